"""`pvcworkerd`: the Celery worker of one node.

It consumes only the node's own queue (named after the node, see `pvc.tasks.submit`), so a
task runs exactly where the API sent it. Concurrency is 2 processes by default: our nodes
have 2 cores, and the tasks (OSD work, benchmarks, lock flushes) mostly wait on Ceph and
disks; PVC runs 3. Logs go to stdout.

At start, before it consumes anything, it puts back at the head of its queue the tasks a
previous run took and never finished (`pvc.tasks.unacked`): a worker that died with its
node resumes them as soon as it is back, not after the visibility timeout.

Signals: SIGTERM (and SIGINT) is a warm shutdown: the worker takes no new task, lets the
running ones finish, then exits 0; the messages of tasks it had not started stay in Redis
for its next start. A second SIGINT, or SIGQUIT, is a cold shutdown that abandons running
tasks (their messages stay unacknowledged and come back at the worker's next start).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from pvc.common.errors import InvalidArgument, PVCError

log = logging.getLogger("pvcworkerd")

DEFAULT_CONCURRENCY = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pvcworkerd", description="The PVC task worker of a node")
    p.add_argument("--config", type=Path, default=None,
                   help="pvc.conf (default: $PVC_CONFIG_FILE or /etc/pvc/pvc.conf)")
    p.add_argument("--node", default=None,
                   help="the node whose queue to consume (default: this host's short name)")
    p.add_argument("--redis-url", default=None,
                   help="the Redis broker (default: from pvc.conf database.keydb)")
    p.add_argument("--master-name", default="pvc",
                   help="with a sentinel:// --redis-url: the master's name (default pvc)")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                   help=f"worker processes (default {DEFAULT_CONCURRENCY})")
    p.add_argument("--zookeeper", default=None, metavar="HOSTS",
                   help="the ZooKeeper hosts of task bodies (default: from pvc.conf)")
    p.add_argument("--include", action="append", default=[], metavar="MODULE",
                   help="also import this module of task bodies (repeatable; for tests)")
    p.add_argument("--debug", action="store_true", help="log at debug level")
    return p.parse_args(argv)


def setup_logging(debug: bool = False) -> None:
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
        force=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.debug)
    from celery import signals
    from celery.exceptions import SecurityWarning

    from pvc.common import config as pvcconfig
    from pvc.common import names
    from pvc.tasks import catalogue, context, unacked
    from pvc.tasks.app import make_app
    from pvc.tasks.provisioner import sweep
    from pvc.tasks.service import worker_name

    def keep_our_logging(**_: Any) -> None:
        """With a receiver here, Celery leaves the logging set up above alone."""

    signals.setup_logging.connect(keep_our_logging, weak=False)
    # The worker runs as root by design (Ceph, LVM and libvirt work); it accepts JSON only,
    # so Celery's warning about root and pickle does not apply.
    warnings.filterwarnings("ignore", category=SecurityWarning)
    try:
        config = None if args.redis_url and not args.config else pvcconfig.load(
            args.config or pvcconfig.config_path())
        node = names.node_name(args.node) if args.node else pvcconfig.this_node()
        if args.concurrency < 1:
            raise InvalidArgument("--concurrency must be at least 1")
        context.configure(config, node, args.zookeeper)  # before the pool forks
        tasks = catalogue.load(args.include)
        app = make_app(config, redis_url=args.redis_url, master_name=args.master_name)
        # A daemon outlives Redis restarts and primary handovers: reconnect for ever.
        app.conf.broker_connection_max_retries = None
    except PVCError as exc:
        log.error("%s", exc)
        return 2
    log.info("pvcworkerd for node %s: queue %s, %d processes, tasks: %s",
             node, node, args.concurrency, ", ".join(tasks) or "none")
    # before consuming: what builds cut short by a previous run left on this node, then
    # the tasks that run took and never finished
    try:
        sweep.sweep(Path(tempfile.gettempdir()))
    except OSError as exc:
        log.error("Could not sweep the provisioning builds cut short: %s", exc)
    unacked.restore_own_when_reachable(app, node)
    worker = app.Worker(
        hostname=worker_name(node),
        queues=[node],
        concurrency=args.concurrency,
        pool_cls="prefork",
        loglevel="DEBUG" if args.debug else "INFO",
        without_mingle=True,
        without_gossip=True,
        without_heartbeat=True,
        optimization="fair",
        quiet=True,
    )
    worker.start()
    code = worker.exitcode
    log.info("pvcworkerd for node %s stopped", node)
    return int(code) if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
