"""The upstream router of a development cluster: a network namespace on the upstream bridge
running FRR (zebra and bgpd), which the coordinators peer with as real clusters peer with
their upstream routers. It learns the managed networks' subnets from the primary, so
`pvc-dev exec router -- ping <guest>` reaches a guest without source NAT.

Its processes are those of its namespace: stopping it kills every process in there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pvc.common.errors import BackendError
from pvc.devcluster import frr
from pvc.devcluster import network as netsetup
from pvc.devcluster.layout import ClusterSpec

DEVICE = "upstream"  # its interface inside the namespace, as in the nodes


def running(spec: ClusterSpec) -> bool:
    ns = spec.router_netns()
    return ns in netsetup.netns_list() and len(netsetup.netns_pids(ns)) >= 2


def _plumb(spec: ClusterSpec) -> None:
    ns = spec.router_netns()
    if ns not in netsetup.netns_list():
        netsetup.ip("netns", "add", ns)
    netsetup.ip("-n", ns, "link", "set", "lo", "up")
    host = spec.router_veth()
    if not netsetup.link_exists(host):
        netsetup.ip("link", "add", host, "type", "veth", "peer", "name", DEVICE, "netns", ns)
    netsetup.ip("link", "set", host, "master", spec.bridge("upstream"), "up")
    netsetup.ip("-n", ns, "addr", "replace", str(spec.router_address()), "dev", DEVICE)
    netsetup.ip("-n", ns, "link", "set", DEVICE, "up")


def ensure(spec: ClusterSpec) -> None:
    """Build the router and start its FRR, unless it runs already (a no-op without FRR)."""
    if not frr.available() or running(spec):
        return
    stop(spec)
    _plumb(spec)
    where = spec.router_dir()
    run = where / "run"
    where.mkdir(parents=True, exist_ok=True)
    frr.prepare_run_dir(run)
    (where / "zebra.conf").write_text(frr.zebra_conf("router"))
    (where / "bgpd.conf").write_text(frr.router_bgpd_conf(spec))
    for name, cmd in frr.daemons(where, run):
        with open(where / f"{name}.log", "ab") as log:
            subprocess.Popen([netsetup.IP, "netns", "exec", spec.router_netns(),
                              *frr.private_tmp(cmd)],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        if name == "zebra":  # bgpd talks to zebra through its socket
            _wait_for(lambda: (run / "zserv.api").exists(), "zebra's socket", where)
    _wait_for(lambda: running(spec), "zebra and bgpd", where)


def _wait_for(done: Callable[[], bool], what: str, where: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise BackendError(f"The upstream router's {what} did not come up; see {where}")
        time.sleep(0.05)


def stop(spec: ClusterSpec) -> None:
    """Kill every process of the router's namespace."""
    ns = spec.router_netns()
    if ns not in netsetup.netns_list():
        return
    pids = netsetup.netns_pids(ns)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while netsetup.netns_pids(ns) and time.monotonic() < deadline:
        time.sleep(0.02)


def destroy(spec: ClusterSpec) -> None:
    stop(spec)
    if spec.router_netns() in netsetup.netns_list():
        netsetup.ip("netns", "del", spec.router_netns(), check=False)
    if netsetup.link_exists(spec.router_veth()):
        netsetup.ip("link", "del", spec.router_veth(), check=False)


def leftovers(spec: ClusterSpec) -> list[str]:
    found = []
    if spec.router_netns() in netsetup.netns_list():
        found.append(f"netns {spec.router_netns()}")
    if netsetup.link_exists(spec.router_veth()):
        found.append(f"veth {spec.router_veth()}")
    return found


def command(spec: ClusterSpec, argv: list[str]) -> list[str]:
    """The command line that runs `argv` in the router's namespace."""
    if spec.router_netns() not in netsetup.netns_list():
        raise BackendError(f"Cluster {spec.name} has no upstream router")
    return [netsetup.IP, "netns", "exec", spec.router_netns(), *argv]
