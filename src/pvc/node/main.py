"""Entry point of pvcnoded."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from pvc.common import config as configmod
from pvc.common.errors import PVCError
from pvc.node.daemon import Daemon, setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pvcnoded", description="PVC node daemon")
    parser.add_argument("--config", help="pvc.conf (default $PVC_CONFIG_FILE or /etc/pvc/pvc.conf)")
    parser.add_argument("--node", help="node name (default: the short hostname)")
    parser.add_argument("--zookeeper", help="ZooKeeper hosts (default: from the config)")
    parser.add_argument("--check-config", metavar="FILE", help=(
        "only read FILE as pvc.conf and say whether it is valid (exit 0) or what is wrong "
        "(exit 2); with --node, also that the node is one of the cluster's"))
    args = parser.parse_args(argv)
    if args.check_config is not None:
        return _check(args.check_config, args.node)
    try:
        node = args.node or configmod.this_node()
    except PVCError as exc:
        print(f"pvcnoded: {exc}", file=sys.stderr)
        return 2
    cfg = _load(args.config, node)
    if cfg is None:
        return 2
    setup_logging(cfg.debug_logging)
    daemon = Daemon(cfg, node, args.zookeeper)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
    except PVCError as exc:
        print(f"pvcnoded: cannot start: {exc}", file=sys.stderr)
        daemon.stop()
        return 1
    stop.wait()
    daemon.stop()
    return 0


def _load(path: str | None, node: str | None) -> configmod.Config | None:
    """pvc.conf, with `node` (if named) one of the cluster's; None, the reason printed,
    when either is wrong."""
    try:
        cfg = configmod.load(path)
    except PVCError as exc:
        print(f"pvcnoded: {exc}", file=sys.stderr)
        return None
    if node is not None and node not in cfg.all_nodes:
        print(f"pvcnoded: node {node} is not in cluster.all_nodes of {cfg.source}",
              file=sys.stderr)
        return None
    return cfg


def _check(path: str, node: str | None) -> int:
    cfg = _load(path, node)
    if cfg is None:
        return 2
    print(f"{path}: valid configuration of cluster {cfg.cluster_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
