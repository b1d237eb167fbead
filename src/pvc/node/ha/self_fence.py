"""Self-fencing: a node cut off from the cluster stops its own VMs before the rest of the
cluster can declare it dead, fence it and start those VMs elsewhere.

The rule (all of it must hold):

1. the node's ZooKeeper session is not connected, and has not carried a keepalive for
   `suicide_intervals` x `keepalive_interval` (the same clock the cluster uses to declare a
   node dead: the age of its last keepalive); and
2. a ZooKeeper quorum could exist without this node: a majority of the ensemble's servers
   give no answer at all to a TCP connection on their client port, made over the cluster
   network's device. A server that accepts the connection can be reached (this is not a
   partition); one that refuses it (TCP reset) lives on a host that answers but runs no
   ZooKeeper, so it cannot be part of a quorum either. So a ZooKeeper outage (servers
   killed, or up without a quorum) never kills VMs; only silence from a majority does.

Then every running domain on this node's libvirt is destroyed (hard stop), again at every
check for as long as both conditions hold, and it is logged. Nothing is written to
ZooKeeper (it cannot be reached). When the session comes back the node does not restart
anything by itself: the VM reconciler reads each record afresh, and starts a VM only if
its record still puts it on this node and no other live node runs it (and its RBD locks
are not another node's), i.e. the cluster's records decide.

The decision is pure (`due`, `quorum_possible_without_me`, `decide`) and tested alone.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from kazoo.client import KazooState

from pvc.common.config import Config
from pvc.common.errors import PVCError
from pvc.drivers.hypervisor.libvirt_driver import DomainFigures

log = logging.getLogger("pvcnoded")

CHECK_INTERVAL = 0.25  # seconds between checks (never more than a quarter interval)
REFUSED_ERRNOS = {errno.ECONNREFUSED}


class Reach(Enum):
    OPEN = "open"  # the server accepted a TCP connection
    REFUSED = "refused"  # its host answered with a reset: no ZooKeeper runs there
    SILENT = "silent"  # no answer (timeout, no route, link down): it may be in a quorum


@dataclass(frozen=True)
class Verdict:
    fence: bool
    reason: str


def due(connected: bool, silent_for: float, limit: float) -> bool:
    """Condition 1: the session is down and no keepalive got through for `limit` seconds.
    `limit` <= 0 means self-fencing is off."""
    return limit > 0 and not connected and silent_for >= limit


def quorum_possible_without_me(reaches: Sequence[Reach]) -> bool:
    """Condition 2: the servers that gave no answer are a majority of the ensemble, so
    they may be a quorum (serving the rest of the cluster) that this node cannot reach."""
    if not reaches:
        return False
    silent = sum(1 for r in reaches if r == Reach.SILENT)
    return silent >= len(reaches) // 2 + 1


def decide(connected: bool, silent_for: float, limit: float,
           reaches: Sequence[Reach] | None) -> Verdict:
    """Whether to self-fence now. `reaches` None: the servers were not probed."""
    if limit <= 0:
        return Verdict(False, "self-fencing is off (fencing.intervals.suicide_intervals: 0)")
    if connected:
        return Verdict(False, "the ZooKeeper session is connected")
    if silent_for < limit:
        return Verdict(False, f"no keepalive for {silent_for:.1f} s (< {limit:.1f} s)")
    if reaches is None:
        return Verdict(False, "the ZooKeeper servers were not probed")
    counts = ", ".join(f"{sum(1 for r in reaches if r == k)} {k.value}" for k in Reach)
    if not quorum_possible_without_me(reaches):
        return Verdict(False, f"ZooKeeper has been unreachable for {silent_for:.1f} s but "
                              f"no quorum can exist without this node ({counts}): "
                              "a control-plane outage, VMs keep running")
    return Verdict(True, f"no keepalive for {silent_for:.1f} s and no answer from a "
                         f"majority of the ZooKeeper servers ({counts}): this node is cut "
                         "off and the cluster may start its VMs elsewhere")


def margin_warning(config: Config) -> str:
    """A warning if the configuration lets the cluster act before the node self-fences."""
    if config.suicide_intervals <= 0:
        return ("self-fencing is off (fencing.intervals.suicide_intervals: 0): a node cut "
                "off from the cluster keeps its VMs running until it is fenced")
    if config.suicide_intervals >= config.fence_intervals:
        return (f"fencing.intervals.suicide_intervals ({config.suicide_intervals}) is not "
                f"below fence_intervals ({config.fence_intervals}): a cut-off node may "
                "stop its VMs only after the cluster has declared it dead")
    return ""


def probe(address: str, port: int, timeout: float, device: str = "") -> Reach:
    """One TCP connection attempt, bound to `device` when given (so a probe never leaves
    through another network than the one ZooKeeper uses)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if device:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
            except OSError as exc:  # no such device (yet) or no privilege: unbound
                log.debug("Self-fence probe not bound to %s: %s", device, exc)
        sock.connect((address, port))
        return Reach.OPEN
    except OSError as exc:
        return Reach.REFUSED if exc.errno in REFUSED_ERRNOS else Reach.SILENT
    finally:
        sock.close()


def probe_all(servers: Sequence[tuple[str, int]], timeout: float,
              device: str = "") -> list[Reach]:
    """Probe every server at once; the whole round takes at most about `timeout`."""
    if not servers:
        return []
    with ThreadPoolExecutor(max_workers=len(servers),
                            thread_name_prefix="self-fence-probe") as pool:
        return list(pool.map(lambda s: probe(s[0], s[1], timeout, device), servers))


class Domains(Protocol):
    def domains(self) -> list[DomainFigures]: ...

    def destroy(self, uuid: str) -> None: ...


class SelfFence:
    """Watches the session and, when the rule holds, destroys every running domain."""

    def __init__(self, node: str, config: Config, host: Domains,
                 connected: Callable[[], bool], last_keepalive: Callable[[], float],
                 prober: Callable[[], list[Reach]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.limit = max(0, config.suicide_intervals) * config.keepalive_interval
        self.host = host
        self.connected = connected
        self.last_keepalive = last_keepalive
        cluster = config.networks["cluster"]
        servers = [(str(cluster.node_address(c).ip), config.zookeeper_port)
                   for c in config.coordinator_nodes]
        timeout = max(0.2, min(1.0, config.keepalive_interval))
        self.prober = prober or (lambda: probe_all(servers, timeout, cluster.device))
        self.clock = clock
        self.period = max(0.05, min(CHECK_INTERVAL, config.keepalive_interval / 4))
        self.fenced: dict[str, str] = {}  # uuid -> name, destroyed in this episode
        self._connected_at = clock()
        self._outage_logged = False  # "not self-fencing" said once per outage
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="self-fence", daemon=True)
        warning = margin_warning(config)
        if warning:
            log.warning("%s", warning)
        elif self.limit > 0:
            log.info("Self-fencing after %.1f s without ZooKeeper when a majority of its "
                     "servers is silent", self.limit)

    # -- wiring -----------------------------------------------------------
    def start(self) -> None:
        if self.limit > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def on_session(self, state: str) -> None:
        """The kazoo listener's hook: never blocks."""
        if state == KazooState.CONNECTED:
            self._connected_at = self.clock()
        self._wake.set()

    # -- the loop -----------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # never let the guard die
                log.exception("Self-fence check failed")
            self._wake.wait(self.period)
            self._wake.clear()

    def silent_for(self) -> float:
        return self.clock() - max(self.last_keepalive(), self._connected_at)

    def check(self) -> Verdict:
        """One look: decide, and destroy the running domains if the rule holds."""
        connected = self.connected()
        if connected:
            if self.fenced:
                log.warning("ZooKeeper session is back after self-fencing %s; the cluster's "
                            "records decide where they run now",
                            ", ".join(sorted(self.fenced.values())))
                self.fenced = {}
            self._outage_logged = False
            return decide(True, 0.0, self.limit, None)
        silent = self.silent_for()
        if not due(connected, silent, self.limit):
            return decide(connected, silent, self.limit, None)
        verdict = decide(connected, silent, self.limit, self.prober())
        if not verdict.fence:
            if not self._outage_logged:
                log.warning("Not self-fencing: %s", verdict.reason)
                self._outage_logged = True
            return verdict
        self._outage_logged = False
        self._destroy_all(verdict.reason)
        return verdict

    def _destroy_all(self, reason: str) -> None:
        try:
            running = [d for d in self.host.domains() if d.running]
        except PVCError as exc:
            log.error("Self-fence: cannot list this node's domains: %s", exc)
            return
        for dom in running:
            log.critical("Self-fencing on %s: destroying VM %s (%s)", self.node, dom.name,
                         reason)
            started = self.clock()
            try:
                self.host.destroy(dom.uuid)
            except PVCError as exc:
                log.error("Self-fence: could not destroy VM %s: %s", dom.name, exc)
                continue
            self.fenced[dom.uuid] = dom.name
            log.critical("Self-fenced VM %s (%.2f s)", dom.name, self.clock() - started)
