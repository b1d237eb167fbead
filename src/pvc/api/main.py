"""`pvcapid`: serve the PVC v1 API (uvicorn) on the state in ZooKeeper.

The node daemon starts it on primary takeover, usually with `--watch-stdin` and a pipe as
stdin: when the daemon dies the pipe closes and the API exits within a second, so an API
never outlives its primary. SIGTERM stops it at once (in-flight requests get a short grace).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pvc.common import procs
from pvc.common.errors import PVCError

if TYPE_CHECKING:  # loaded in main(), after the arguments parsed
    import uvicorn

    from pvc.common.config import Config
    from pvc.db.prepared import PreparedDatabase
    from pvc.state.store import Store

log = logging.getLogger("pvcapid")

# Seconds in-flight requests get to finish at shutdown (idle connections close at once).
SHUTDOWN_GRACE = 0.5
ZK_CONNECT_TIMEOUT = 15.0


def zk_read_timeout(session_timeout: float) -> float:
    """How long a request's read waits for ZooKeeper before it is answered 503: longer than
    a session's reconnect to another server (the ensemble loses a member, the primary
    moves), well within a client's own read timeout (the CLI's is 30 s)."""
    return min(max(10.0, 3 * session_timeout), 20.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pvcapid", description="The PVC v1 HTTP API daemon")
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="pvc.conf (default: $PVC_CONFIG_FILE or /etc/pvc/pvc.conf)",
    )
    p.add_argument("--listen", metavar="ADDRESS", help="override api.listen.address")
    p.add_argument("--port", type=int, help="override api.listen.port")
    p.add_argument(
        "--zookeeper",
        metavar="HOSTS",
        help="ZooKeeper hosts (host:port,...[/chroot]); default: the coordinators",
    )
    p.add_argument(
        "--metadata",
        action="store_true",
        help="also serve cloud-init metadata on 169.254.169.254:80 (the primary does)",
    )
    p.add_argument(
        "--watch-stdin",
        action="store_true",
        help="exit when stdin reaches end of file (the parent died)",
    )
    return p.parse_args(argv)


def setup_logging(debug: bool = False) -> None:
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("kazoo").setLevel(logging.WARNING)
    procs.stacks_on_sigusr1()


def _this_node() -> str | None:
    from pvc.common.config import this_node

    try:
        return this_node()
    except PVCError:
        return None


def watch_stdin(stop: threading.Event, on_eof: Callable[[], None]) -> threading.Thread:
    """A daemon thread that calls `on_eof()` once stdin reaches EOF (or fails)."""

    def run() -> None:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        while fd >= 0 and not stop.is_set():
            try:
                if not os.read(fd, 65536):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        if not stop.is_set():
            log.info("stdin reached end of file: the parent is gone, shutting down")
            on_eof()

    thread = threading.Thread(target=run, name="watch-stdin", daemon=True)
    thread.start()
    return thread


def _metadata_server(config: Config, store: Store,
                     database: PreparedDatabase | None) -> uvicorn.Server | None:
    """The cloud-init metadata service (`pvc.api.metadata`) on METADATA_ADDRESS:80, which
    the primary holds on its loopback, in a thread of its own; None when it is off."""
    import uvicorn

    from pvc.api.metadata import create_metadata_app
    from pvc.common.config import METADATA_ADDRESS, METADATA_PORT

    if not config.metadata_enabled:
        return None
    server = uvicorn.Server(uvicorn.Config(
        create_metadata_app(store, database), host=METADATA_ADDRESS, port=METADATA_PORT,
        log_config=None, lifespan="off", timeout_keep_alive=5))

    def run() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind: the API goes on
            log.error("The metadata service could not listen on %s:%s", METADATA_ADDRESS,
                      METADATA_PORT)

    threading.Thread(target=run, name="metadata", daemon=True).start()
    log.info("Metadata service on http://%s:%s", METADATA_ADDRESS, METADATA_PORT)
    return server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    # Heavy imports only after the arguments parsed; each start-up step is logged, as on a
    # loaded server they can take minutes, and the node daemon waits for them
    began = time.monotonic()
    log.info("Starting: loading the API")
    import uvicorn
    from kazoo.client import KazooState

    from pvc.api.app import create_app
    from pvc.common import config as pvcconfig
    from pvc.db.prepared import PreparedDatabase
    from pvc.db.spec import api_spec
    from pvc.ops.storage.backend import open_storage
    from pvc.state import connect
    from pvc.state.mirror import DEFAULT_ROOTS, MirroredStore

    log.info("API loaded in %.1f s", time.monotonic() - began)
    try:
        config = pvcconfig.load(args.config or pvcconfig.config_path())
        hosts = args.zookeeper or config.zookeeper_hosts(prefer=_this_node())
    except PVCError as exc:
        log.error("%s", exc)
        return 2
    host = args.listen or config.api_address
    port = args.port if args.port is not None else config.api_port
    tls = config.api_ssl_enabled
    for path in (config.api_ssl_certificate, config.api_ssl_private_key) if tls else ():
        if not Path(path).is_file():
            log.error("api.ssl is enabled but %r is not a readable file", path)
            return 2

    zk = connect.client(hosts, config.zookeeper_session_timeout)
    zk.add_listener(
        lambda state: (
            log.warning("ZooKeeper connection %s", state) if state != KazooState.CONNECTED else None
        )
    )
    try:
        zk.start(timeout=ZK_CONNECT_TIMEOUT)
    except Exception as exc:  # kazoo raises its own timeout type
        log.error("Cannot connect to ZooKeeper at %s: %s", hosts, exc)
        zk.close()
        return 1
    log.info("Connected to ZooKeeper at %s", hosts)
    # reads of VMs, nodes and indexes come from a watch-kept mirror once it has loaded
    # (it loads in the background: the API serves at once, from ZooKeeper until then)
    store = MirroredStore(zk, roots=(*DEFAULT_ROOTS, "/ceph"),
                          read_timeout=zk_read_timeout(config.zookeeper_session_timeout))
    store.start()
    storage = open_storage(config)
    db_spec = api_spec(config)
    database = PreparedDatabase(db_spec) if db_spec else None
    # set when told to exit: a request still waiting for an outcome (`wait=true`) is then
    # answered 503 at once, within the grace below, not cut off by uvicorn with a bare 500
    stopping = threading.Event()

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:  # uvicorn's signal handler
            stopping.set()
            super().handle_exit(sig, frame)

    server = Server(
        uvicorn.Config(
            create_app(config, store, storage, stopping, database),
            host=host,
            port=port,
            log_config=None,
            lifespan="off",
            timeout_keep_alive=5,
            timeout_graceful_shutdown=cast(int, SHUTDOWN_GRACE),
            ssl_certfile=config.api_ssl_certificate if tls else None,
            ssl_keyfile=config.api_ssl_private_key if tls else None,
        )
    )
    stop = threading.Event()

    def request_exit(*_: object) -> None:
        stopping.set()
        server.should_exit = True

    if args.watch_stdin:
        watch_stdin(stop, request_exit)
    # uvicorn handles SIGTERM/SIGINT while serving and re-raises them at the previous
    # handlers when done: these stop the server (also before uvicorn took over), so the
    # ZooKeeper session is closed below and the exit status is 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_exit)
    if database is not None:  # the provisioner's database, once the API serves
        database.start(after=lambda: server.started)
    metadata = _metadata_server(config, store, database) if args.metadata else None
    scheme = "https" if tls else "http"
    log.info("PVC API on %s://%s:%s/api/v1 (ZooKeeper %s)", scheme, host, port, hosts)
    try:
        server.run()
    finally:
        stop.set()
        if metadata is not None:
            metadata.should_exit = True
        store.close()
        if storage is not None:
            storage.close()
        if database is not None:
            database.close()
        zk.stop()
        zk.close()
    log.info("PVC API stopped")
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
