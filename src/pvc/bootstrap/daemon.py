"""`pvcbootstrapd`: the bootstrap daemon, and its status and reset commands.

    pvcbootstrapd [--config FILE] run                 serve the bootstrap network
    pvcbootstrapd [--config FILE] status [--format json]
    pvcbootstrapd [--config FILE] reset CLUSTER NODE  start a (failed) node over
    pvcbootstrapd [--config FILE] reset CLUSTER       run a failed cluster's step again

`run` extracts the installer's netboot files from the ISO, reads the cluster repository,
starts dnsmasq on the bootstrap interface and serves the HTTP API until SIGTERM or SIGINT;
SIGHUP reads the repository again. What it recorded survives a restart: each node goes on
from its last stage. `reset` changes the record only (the daemon may run or not): a node
starts over from `waiting`; a failed cluster goes back to the step it failed in (Ansible
or its hooks), which the running daemon starts again within a few seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from pvc.bootstrap import netboot
from pvc.bootstrap import settings as settings_mod
from pvc.bootstrap.notify import Notifier
from pvc.bootstrap.service import Bootstrap
from pvc.bootstrap.store import Store
from pvc.common.errors import PVCError

log = logging.getLogger("pvcbootstrapd")
RESUME_EVERY = 5  # seconds between looks for a cluster the operator reset


def paths(state_dir: Path) -> dict[str, Path]:
    return {"db": state_dir / "state.sqlite", "netboot": state_dir / "netboot",
            "tftp": state_dir / "tftp", "dnsmasq": state_dir / "dnsmasq"}


def run(cfg: settings_mod.Settings) -> int:
    import uvicorn

    from pvc.bootstrap.api import make_app

    where = paths(cfg.state_dir)
    netboot.extract_netboot(cfg.iso, where["netboot"])
    store = Store(where["db"])
    notifier = Notifier(cfg.webhook)
    notifier.start()
    service = Bootstrap(cfg, store, notifier)
    service.load()
    service.resume()
    dnsmasq = netboot.Dnsmasq(cfg.network, where["dnsmasq"], where["tftp"], cfg.http_base,
                              f"{cfg.http_base}/checkin/dnsmasq")
    server = uvicorn.Server(uvicorn.Config(
        make_app(service, where["netboot"]), host=str(cfg.network.address.ip), port=cfg.port,
        log_level="warning", access_log=False))
    failed = threading.Event()

    def watch() -> None:
        """dnsmasq must live; a cluster the operator reset gets its job again."""
        tick = 0
        while not server.should_exit:
            if not dnsmasq.alive():
                log.error("dnsmasq exited (%s); see %s", dnsmasq.exit_code(),
                          where["dnsmasq"] / "dnsmasq.out")
                failed.set()
                server.should_exit = True
            tick += 1
            if tick % RESUME_EVERY == 0:
                try:
                    service.resume_clusters()
                except Exception:  # the record's trouble is logged; the daemon serves on
                    log.exception("cannot look for clusters to resume")
            time.sleep(1)

    def reload(*_: object) -> None:
        try:
            service.load()
            log.info("Read the cluster repository again")
        except PVCError as exc:
            log.error("Cannot read the cluster repository: %s", exc.message)

    def stop(*_: object) -> None:
        server.should_exit = True

    dnsmasq.start()
    signal.signal(signal.SIGHUP, reload)
    # (uvicorn hands a signal it caught back to the handler it found once it stopped: a
    # handler of ours, not the default one that would end the process before it cleans up)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=watch, name="watch", daemon=True).start()
    log.info("Serving the bootstrap network on %s (%s), API %s", cfg.network.interface,
             cfg.network.address, cfg.http_base)
    try:
        server.run()
    finally:
        dnsmasq.stop()
        service.jobs.shutdown(wait=False, cancel_futures=True)
        notifier.stop()
        store.close()
    return 1 if failed.is_set() else 0


def status(cfg: settings_mod.Settings, fmt: str) -> int:
    try:
        answer = httpx.get(f"{cfg.http_base}/status", timeout=10)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        print(f"pvcbootstrapd status: cannot ask {cfg.http_base}: {exc}", file=sys.stderr)
        return 1
    data: dict[str, Any] = answer.json()
    if fmt == "json":
        print(json.dumps(data, indent=2))
        return 0
    for cluster in data["clusters"]:
        print(f"cluster {cluster['name']}: {cluster['stage']}")
        for n in cluster["nodes"]:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(n["updated"]))
            print(f"  {n['hostname']:<16} {n['stage']:<18} NIC {n['node_mac'] or '-':<17} "
                  f"{n['node_ip'] or '-':<15} BMC {n['bmc_ip'] or '-':<15} since {since}")
    return 0


def reset(cfg: settings_mod.Settings, cluster: str, node: str | None) -> int:
    store = Store(paths(cfg.state_dir)["db"])
    try:
        if node is None:
            step = store.reset_cluster(cluster)
        else:
            store.reset_node(cluster, node)
    finally:
        store.close()
    if node is None:
        print(f"cluster {cluster} goes on from {step} (the running daemon starts it within "
              f"{RESUME_EVERY} s; `pvcbootstrapd status` follows it)")
    else:
        print(f"{cluster}/{node} starts over (waiting)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pvcbootstrapd", description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, default=settings_mod.DEFAULT_PATH,
                   help=f"its settings (default {settings_mod.DEFAULT_PATH})")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="serve the bootstrap network")
    st = sub.add_parser("status", help="every cluster and node, with its stage")
    st.add_argument("--format", choices=("text", "json"), default="text")
    rs = sub.add_parser("reset", help="start a node over from waiting, or run a failed "
                        "cluster's step (Ansible or the hooks) again")
    rs.add_argument("cluster")
    rs.add_argument("node", nargs="?", help="the node to start over (none: the cluster)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = settings_mod.load(args.config)
        if args.command == "run":
            return run(cfg)
        if args.command == "status":
            return status(cfg, args.format)
        return reset(cfg, args.cluster, args.node)
    except PVCError as exc:
        print(f"pvcbootstrapd: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
