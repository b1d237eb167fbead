"""The fence monitor: power off, through its BMC, a node whose keepalives stopped, and
hand its VMs to the survivors (see `pvc.node.ha.recovery`).

It runs on every coordinator; one at a time acts, holding the ZooKeeper lock
`lock.fence` (a kazoo Lock), and it fences one node at a time. Nothing happens while
the cluster is in maintenance mode. The primary marks a silent node `dead` (see
`Keepalive.watch_peers`); then, holding the lock:

1. Saving throws: `SAVING_THROWS` more keepalive intervals in which the node may speak
   up (any daemon state other than `dead` cancels the fence), maintenance may be turned
   on, or this coordinator may lose its lock (both cancel too).
2. `ipmitool chassis power off`, then `power status` until it reads off (a short
   while: a BMC may report the old state for a moment).
3. Confirmed off: the recovery (`successful_fence: migrate`) runs while the node is
   still off, so a node that boots quickly never meets its own VMs being moved; then
   `power on` and a last `power status`, as PVC does. Not confirmed: `power on` and
   `power status` all the same, and the success rule (`fence_succeeded`) decides.
4. A failed fence leaves the node `dead`, raises the fault `FENCE_FAILED_<node>` and,
   with `failed_fence: none` (the default), touches no VM: without proof that the node
   is off, starting its VMs elsewhere could run them twice. While the node stays dead,
   the fence is tried again `FENCE_RETRY` s after the last failure (by whichever
   coordinator then holds the lock: the fault's last change is the shared memory), so a
   node whose BMC was unreachable for a while is still recovered once it answers.

Timing, against our goal of 10 s from power loss to every VM running elsewhere with the
default 1 s keepalives and `fence_intervals` 4: the primary sees the silence after 4-5 s,
the saving throws add 2 s (so a node is fenced only after 6-7 s of silence, twice the
ZooKeeper session timeout: a node whose connection merely moved to another ZooKeeper
server has long resumed its keepalives), the BMC answers off and status in well under a
second, and the recovery plus the survivors' starts take 1-2 s. PVC's own count (6
intervals of 5 s after 30 s of silence) is what makes its failover take 65-75 s.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooState
from kazoo.exceptions import KazooException, LockTimeout
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.recipe.lock import Lock

from pvc.common.config import Config
from pvc.common.errors import BackendError, InvalidArgument, NotFound, PVCError
from pvc.drivers.fencing.ipmi import IpmiTool, PowerControl
from pvc.node.ha import recovery as fence_recovery
from pvc.node.ha.recovery import LockBreaker
from pvc.ops.cluster.faults import raise_fault
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")

SAVING_THROWS = 2  # keepalive intervals after `dead` before the power is cut
TICK = 0.25  # seconds between looks at the node states
FENCE_RETRY = 60.0  # seconds before a failed fence of a still-dead node is tried again
FAULT_PREFIX = "FENCE_FAILED_"
OFF_CONFIRM_TIMEOUT = 3.0  # seconds a BMC may keep reporting "on" after a power off
FAULT_DELTA = 50
PowerFactory = Callable[[str, dict[str, Any]], PowerControl]


@dataclass
class PowerResult:
    """What the IPMI sequence saw: each status is "on", "off" or None (no answer)."""

    off_ok: bool = False
    first: str | None = None  # status after the power off
    on_ok: bool | None = None  # None: not tried
    final: str | None = None  # status after the power on
    errors: list[str] = field(default_factory=list)


def fence_succeeded(first: str | None, final: str | None) -> bool:
    """PVC's rule: "off" then "on" or "off" then "off" succeed; a failed off step
    succeeds only if the final state is "off". In short: the node was seen off."""
    return first == "off" or final == "off"


def ipmi_power(node: str, record: dict[str, Any]) -> PowerControl:
    """The node's BMC from its `node.ipmi` record (written from that node's pvc.conf)."""
    if not isinstance(record, dict) or not record.get("hostname"):
        raise InvalidArgument(f"Node {node} has no IPMI settings (fencing.ipmi in its pvc.conf)")
    return IpmiTool(str(record["hostname"]), str(record.get("username", "")),
                    str(record.get("password", "")), int(record.get("port", 623)),
                    str(record.get("interface", "lanplus")))


class FenceMonitor:
    def __init__(
        self,
        store: Store,
        node: str,
        config: Config,
        may_act: Callable[[], bool],
        storage: LockBreaker | None = None,
        power_for: PowerFactory = ipmi_power,
    ) -> None:
        self.store = store
        self.zk = store.zk
        self.node = node
        self.config = config
        self.may_act = may_act
        self.storage = storage
        self.power_for = power_for
        self.lock = Lock(self.zk, store.path("lock.fence"), identifier=node)
        self._failed: dict[str, float] = {}  # node -> when (monotonic) its fence failed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fence-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.step()
            except (PVCError, KazooException, KazooTimeoutError) as exc:
                log.warning("Fence monitor: %s", exc)
            except Exception:
                log.exception("Fence monitor: unexpected error")

    # -- one look -----------------------------------------------------------
    def _connected(self) -> bool:
        return bool(self.zk.state == KazooState.CONNECTED)

    def _maintenance(self) -> bool:
        return bool(self.store.read("config.maintenance", default=False))

    def _todo(self) -> list[str]:
        """Dead nodes, and fenced ones whose recovery was interrupted."""
        peers = [p for p in self.store.children("root.nodes") if p != self.node]
        values = self.store.read_many([(k, {"node": p}) for p in peers for k in (
            "node.daemon_state", "node.domain_state")])
        out = []
        for i, peer in enumerate(peers):
            daemon, domain = values[2 * i:2 * i + 2]
            if (daemon == "dead" and not self._failed_lately(peer)) or (
                    daemon == "fenced" and domain == "fence-flush"):
                out.append(peer)
        return sorted(out)

    def step(self) -> None:
        if not self.may_act() or not self._connected() or self._maintenance():
            return
        if not self._todo():
            return
        try:
            if not self.lock.acquire(timeout=self.config.keepalive_interval):
                return
        except LockTimeout:
            return  # another coordinator is fencing
        try:
            for peer in self._todo():  # afresh: the previous holder may have done them
                if self._stop.is_set() or not self._holding():
                    break
                self.handle(peer)
        finally:
            with contextlib.suppress(KazooException, KazooTimeoutError):
                self.lock.release()

    def _holding(self) -> bool:
        """Whether the fence lock is still ours (a suspended or lost session means no)."""
        if not self._connected() or not self.lock.is_acquired or not self.lock.node:
            return False
        stat = self.zk.exists(f"{self.lock.path}/{self.lock.node}")
        return stat is not None and stat.ephemeralOwner == self.zk.client_id[0]

    def _failed_lately(self, peer: str) -> bool:
        """Whether a fence of `peer` failed less than FENCE_RETRY s ago, here or on any
        coordinator (the FENCE_FAILED fault's last change tells). A dead node whose fence
        failed is tried again after that, e.g. once its BMC answers again; an operator
        who deletes the fault has it tried at once."""
        mine = self._failed.get(peer)
        if mine is not None and time.monotonic() - mine < FENCE_RETRY:
            return True
        stat = self.zk.exists(self.store.path("fault", fault=f"{FAULT_PREFIX}{peer}"))
        return stat is not None and time.time() - stat.mtime / 1000 < FENCE_RETRY

    # -- one node -----------------------------------------------------------
    def handle(self, peer: str) -> None:
        daemon, domain, stamp = self.store.read_many([
            ("node.daemon_state", {"node": peer}), ("node.domain_state", {"node": peer}),
            ("node.keepalive", {"node": peer})])
        if daemon == "fenced" and domain == "fence-flush":
            log.warning("Node %s is fenced but its recovery was not finished: resuming", peer)
            self._recover(peer)
            return
        if daemon != "dead" or self._failed_lately(peer):
            return
        if not self._may_fence(peer):
            return
        log.warning("Node %s is dead: fencing it in %d keepalive intervals unless it "
                    "speaks up", peer, SAVING_THROWS)
        if self.storage is not None:
            # Marking its OSDs down is no fence (a live OSD marks itself up again at once)
            # but Ceph's peering then overlaps the saving throws: without it, I/O to the
            # placement groups the node led (the disks of its VMs included) waits for
            # osd_heartbeat_grace (20 s). The recovery marks them down again, to be sure.
            threading.Thread(target=fence_recovery.osds_down, name="fence-osds-down",
                             args=(self.store, self.storage, peer), daemon=True).start()
        if not self._saving_throws(peer):
            return
        self.fence(peer, stamp)

    def _may_fence(self, peer: str) -> bool:
        """False for a node whose BMC did not answer when its daemon started, under its
        `fencing.disable_on_ipmi_failure: yes` (its record says `fencing: false`): it is
        never fenced, which is a failed fence that touches no VM, whatever
        `failed_fence` says (the node may be running them still)."""
        record = self.store.read("node.ipmi", default={}, node=peer)
        if not isinstance(record, dict) or record.get("fencing", True) is not False:
            return True
        self._failed[peer] = time.monotonic()
        message = (f"Node {peer} is dead but is not fenced: its BMC did not answer when its "
                   "daemon started, and its fencing.disable_on_ipmi_failure is on; its VMs "
                   "are left alone")
        log.error("%s", message)
        try:
            raise_fault(self.store, f"{FAULT_PREFIX}{peer}", FAULT_DELTA, message)
        except PVCError as exc:
            log.error("Could not raise the fault for the unfenced node %s: %s", peer, exc)
        return False

    def _saving_throws(self, peer: str) -> bool:
        deadline = time.monotonic() + SAVING_THROWS * self.config.keepalive_interval
        while True:
            state = self.store.read("node.daemon_state", default="", node=peer)
            if state != "dead":
                log.info("Node %s is %s again: fence cancelled", peer, state)
                return False
            if self._maintenance():
                log.info("Maintenance mode is on: fence of %s cancelled", peer)
                return False
            if not self._holding() or self._stop.is_set():
                log.warning("Lost the fence lock: fence of %s cancelled", peer)
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self._stop.wait(min(0.1, left))

    def fence(self, peer: str, stamp: Any) -> bool:
        started = time.monotonic()
        result = PowerResult()
        recovered = False
        try:
            power = self.power_for(peer, self.store.read("node.ipmi", default={}, node=peer))
        except (InvalidArgument, NotFound) as exc:
            result.errors.append(str(exc))
            power = None
        if power is not None:
            log.warning("Fencing node %s: power off through %r", peer, power)
            result.off_ok = self._try(result, "power off", power.power_off)
            result.first = self._confirm_off(result, power)
            if result.first == "off":
                log.warning("Node %s is confirmed off (%.2f s)", peer, time.monotonic() - started)
                recovered = self._after_fence(peer)
            if result.off_ok or result.first is not None:
                result.on_ok = self._try(result, "power on", power.power_on)
            # (a BMC that answered neither is not asked to power on: one more look only)
            result.final = self._status(result, power)
        if not fence_succeeded(result.first, result.final):
            self._failed[peer] = time.monotonic()
            self._fence_failed(peer, result)
            return False
        if not recovered and result.first != "off":
            log.warning("Node %s was not seen off at first but is off now", peer)
            self._after_fence(peer)
        log.warning("Fenced node %s in %.2f s (power off %s, then on %s, now %s)", peer,
                    time.monotonic() - started, "ok" if result.off_ok else "failed",
                    "ok" if result.on_ok else "failed", result.final or "unknown")
        return True

    def _try(self, result: PowerResult, what: str, action: Callable[[], None]) -> bool:
        try:
            action()
            return True
        except BackendError as exc:
            result.errors.append(f"{what}: {exc}")
            log.error("Fence: %s failed: %s", what, exc)
            return False

    def _status(self, result: PowerResult, power: PowerControl) -> str | None:
        try:
            return power.power_status()
        except BackendError as exc:
            result.errors.append(f"power status: {exc}")
            log.error("Fence: power status failed: %s", exc)
            return None

    def _confirm_off(self, result: PowerResult, power: PowerControl) -> str | None:
        deadline = time.monotonic() + OFF_CONFIRM_TIMEOUT
        while True:
            state = self._status(result, power)
            if state != "on" or not result.off_ok or time.monotonic() >= deadline:
                return state
            time.sleep(0.25)

    def _after_fence(self, peer: str) -> bool:
        migrate = self.config.successful_fence == "migrate"
        if not fence_recovery.mark_fenced(self.store, peer, migrate):
            return False
        if migrate:
            self._recover(peer)
        return True

    def _recover(self, peer: str) -> None:
        fence_recovery.recover(self.store, self.config, self.storage, peer)

    def _fence_failed(self, peer: str, result: PowerResult) -> None:
        why = "; ".join(result.errors) or (
            f"power status read {result.first or 'nothing'} after the power off and "
            f"{result.final or 'nothing'} at the end")
        message = f"Fencing of dead node {peer} failed: {why}"[:1000]
        log.error("%s", message)
        try:
            raise_fault(self.store, f"{FAULT_PREFIX}{peer}", FAULT_DELTA, message)
        except PVCError as exc:
            log.error("Could not raise the fault for the failed fence of %s: %s", peer, exc)
        if self.config.failed_fence == "migrate":
            log.warning("failed_fence is migrate: starting the VMs of %s elsewhere although "
                        "it was never seen off", peer)
            if fence_recovery.mark_fenced(self.store, peer, True):
                self._recover(peer)
        else:
            log.error("Node %s stays dead; its VMs are left alone (failed_fence: none)", peer)
