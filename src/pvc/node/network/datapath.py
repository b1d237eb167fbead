"""The links of the client networks on this node, kept as the cluster state says.

Every node has, per network, a bridge `vmbr<vni>` that the VMs' NICs join, and:
- managed: `vxlan<vni>` on the cluster network's device, from this node's cluster
  address, no MAC learning (FRR's BGP EVPN fills in where remote MACs are and whom to
  flood to; `advertise-all-vni` finds the VXLAN by itself);
- bridged: `vlan<vni>`, a VLAN of `guest_networking.bridge_device` with the VNI as its id.

A change to `/networks` (a network created, changed or removed) is applied within a moment
through ZooKeeper watches; every `RESYNC` seconds everything is compared again, so a link
removed behind the daemon's back comes back. `sync()` at start builds all of them before
the node reports `run`. Links of ours (the names above with a number) that no network
wants any more are removed; nothing else is touched.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pvc.common import procs
from pvc.common.config import Config
from pvc.common.errors import InvalidArgument, PVCError
from pvc.drivers.network.links import Link, Links
from pvc.node.network.watch import NetworkWatch
from pvc.ops.network.records import read_all
from pvc.ops.network.spec import Limits, NetworkSpec, limits_of
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")

RESYNC = 10.0
OURS = re.compile(r"^(vmbr|vxlan|vlan)([0-9]+)$")


@dataclass(frozen=True)
class Wanted:
    vni: int
    bridge: str
    port: str  # vxlan<vni> or vlan<vni>
    managed: bool
    mtu: int


def bridge_name(vni: int) -> str:
    return f"vmbr{vni}"


def wanted(networks: list[NetworkSpec], limits: Limits) -> list[Wanted]:
    return [Wanted(n.vni, bridge_name(n.vni), f"{'vxlan' if n.managed else 'vlan'}{n.vni}",
                   n.managed, n.effective_mtu(limits)) for n in networks]


def stale(present: list[str], want: list[Wanted]) -> list[str]:
    """Our links that no network wants: ports before bridges."""
    keep = {w.bridge for w in want} | {w.port for w in want}
    found = [name for name in present if OURS.match(name) and name not in keep]
    return sorted(found, key=lambda n: (n.startswith("vmbr"), n))


class NetworkLinks:
    def __init__(self, store: Store, node: str, config: Config, links: Links) -> None:
        self.store = store
        self.node = node
        self.links = links
        self.limits = limits_of(config)
        cluster = config.networks["cluster"]
        self.cluster_device = cluster.device
        self.local: ipaddress.IPv4Address = cluster.node_address(node).ip
        self.bridge_device = config.bridge_device
        self._changed = threading.Event()
        self._stop = threading.Event()
        self.after_sync: list[Callable[[], None]] = []  # told after each pass
        self._failures: dict[int, str] = {}  # vni -> the last error said about it
        self._thread = threading.Thread(target=self._run, name="network-links", daemon=True)

    # -- following the cluster state -----------------------------------------------
    def start(self, watch: NetworkWatch) -> None:
        watch.subscribe(self._changed.set)
        self._thread.start()

    def _run(self) -> None:
        for _ in procs.wakes(self._stop, self._changed, RESYNC):
            try:
                self.sync()
            except PVCError as exc:
                log.warning("Could not bring the client networks up to date: %s", exc)
                self._stop.wait(1.0)
                self._changed.set()
            for hook in self.after_sync:
                hook()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()

    # -- applying ---------------------------------------------------------------------
    def sync(self) -> list[int]:
        """Make this node's links match the networks; the VNIs that could not be built."""
        want = wanted(read_all(self.store), self.limits)
        present = self.links.links()  # one netlink dump for the whole pass
        failed = []
        for w in want:
            try:
                self._build(w, present)
            except PVCError as exc:
                failed.append(w.vni)
                if self._failures.get(w.vni) != str(exc):
                    log.error("Client network %s cannot be built on %s: %s", w.vni, self.node,
                              exc)
                self._failures[w.vni] = str(exc)
            else:
                if self._failures.pop(w.vni, None) is not None:
                    log.info("Client network %s is built on %s now", w.vni, self.node)
        for name in stale(list(present), want):
            self.links.delete(name)
            log.info("Removed %s: its client network is gone", name)
        for vni in set(self._failures) - {w.vni for w in want}:
            del self._failures[vni]
        return failed

    def _build(self, w: Wanted, present: dict[str, Link]) -> None:
        if w.managed:
            self.links.ensure_bridge(w.bridge, w.mtu, present=present)
            self.links.ensure_vxlan(w.port, w.vni, self.local, self.cluster_device, w.mtu,
                                    w.bridge, present=present)
            return
        if not self.bridge_device:
            raise InvalidArgument("guest_networking.bridge_device is not set in pvc.conf")
        self.links.ensure_bridge(w.bridge, w.mtu, ipv6=False, present=present)
        self.links.ensure_vlan(w.port, w.vni, self.bridge_device, w.mtu, w.bridge,
                               present=present)
