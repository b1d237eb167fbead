"""What happens after a node was fenced (seen powered off through its BMC).

`mark_fenced`: one transaction makes the node `fenced` (from `dead`, checked), its
domain state `fence-flush` (when its VMs are to move), a coordinator `secondary`, and
`primary_node` none if it still names the node; its resource figures are zeroed.

`recover`: the node's Ceph OSDs are marked down (again: the fence monitor did so when
the node was found dead) in the background: their peers would take
`osd_heartbeat_grace`, 20 s, to report them, and I/O to the placement groups they led
waits until then, including the opening of the disks of the VMs about to start
elsewhere. Then, for every VM that ran on the node: its disks' RBD locks held by the
node are broken (the holder is blocklisted first), and one transaction per VM sets its
node to a survivor chosen by its selector and node limit, `last_node` to the fenced node
and state `start`; when no survivor fits, state `stop` and the autostart flag instead, so
that it starts on the node once an operator readies it. The node ends `flushed`; it
comes back into service only through `node ready`.

Targets are chosen one after another (memory promised to a target counts against it),
then the VMs are handed over in parallel, since breaking a lock is a Ceph round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from pvc.common import placement, vm, vmxml
from pvc.common.config import Config
from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PVCError
from pvc.drivers.storage.base import Figures
from pvc.node.storage import rbd_locks
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")

HANDOVER_WORKERS = 4
ZERO_STATS: dict[str, Any] = {
    "load": 0.0,
    "memory": {"total": 0, "used": 0, "free": 0, "allocated": 0, "provisioned": 0},
    "vcpu_allocated": 0, "domains_count": 0, "running_domains": [],
}


class LockBreaker(Protocol):
    """What recovery needs of the storage driver."""

    def lock_list(self, pool: str, volume: str) -> list[Figures]: ...

    def lock_break(self, pool: str, volume: str, locker: str, cookie: str) -> None: ...

    def osd_set_down(self, osd: int) -> None: ...


@dataclass(frozen=True)
class Handover:
    uuid: str
    name: str
    target: str | None  # None: stopped and marked to autostart
    volumes: tuple[str, ...]


def mark_fenced(store: Store, node: str, migrate: bool) -> bool:
    """`dead` -> `fenced` (and `fence-flush`); False if the node is no longer dead."""
    state, version = store.read_versioned("node.daemon_state", node=node)
    if state != "dead":
        log.warning("Node %s is %s, not dead: not marking it fenced", node, state)
        return False
    txn = store.txn()
    txn.set("node.daemon_state", "fenced", version=version, node=node)
    if migrate:
        txn.set("node.domain_state", "fence-flush", node=node)
    if store.read("node", node=node) == "coordinator":
        txn.set("node.coordinator_state", "secondary", node=node)
    primary, primary_version = store.read_versioned("config.primary_node")
    if primary == node:
        txn.set("config.primary_node", "none", version=primary_version)
    txn.set("node.stats", ZERO_STATS, node=node)
    try:
        txn.commit()
    except (Conflict, NotFound):
        log.warning("Node %s changed while being marked fenced; leaving it", node)
        return False
    log.warning("Node %s is fenced", node)
    return True


def recover(store: Store, config: Config, storage: LockBreaker | None, node: str) -> None:
    started = time.monotonic()
    if storage is not None:
        threading.Thread(target=osds_down, args=(store, storage, node), daemon=True,
                         name="fence-osds-down").start()
    plan = plan_handovers(store, config, node)
    planned = time.monotonic()
    if plan:
        with ThreadPoolExecutor(min(HANDOVER_WORKERS, len(plan)), "fence-handover") as pool:
            list(pool.map(lambda h: _hand_over(store, config, storage, node, h), plan))
    value, version = store.read_versioned("node.domain_state", node=node)
    if value == "fence-flush":
        try:
            store.write("node.domain_state", "flushed", version=version, node=node)
        except Conflict:
            log.info("The domain state of %s changed during its recovery", node)
    moved = sum(1 for h in plan if h.target)
    log.warning("Recovered %d VM(s) of fenced node %s in %.2f s (%.2f s planning): %d "
                "started elsewhere, %d stopped until it is ready", len(plan), node,
                time.monotonic() - started, planned - started, moved, len(plan) - moved)


def osds_down(store: Store, storage: LockBreaker, node: str) -> None:
    try:
        ids = store.children("root.ceph.osds")
    except NotFound:
        return
    records = store.read_many([("osd", {"osd": i}) for i in ids])
    for osd, record in zip(ids, records, strict=True):
        if isinstance(record, dict) and record.get("node") == node:
            try:
                storage.osd_set_down(int(osd))
                log.warning("Marked OSD %s of dead node %s down", osd, node)
            except (PVCError, ValueError) as exc:
                log.warning("Could not mark OSD %s of %s down: %s", osd, node, exc)


def _moves(node: str, status: dict[str, Any]) -> bool:
    """Whether the VM was running on the node: assigned there and meant to run, or in a
    migration away from it that can no longer finish."""
    source = (status.get("intent") or {}).get("source", "")
    if status["state"] in ("migrate", "unmigrate"):
        return bool(source == node)
    return bool(status["node"] == node and status["state"] in ("start", "restart"))


def _loads(store: Store) -> list[placement.NodeLoad]:
    names = store.children("root.nodes")
    values = store.read_many([(k, {"node": n}) for n in names for k in (
        "node.daemon_state", "node.domain_state", "node.stats")])
    return [placement.load_from(n, *values[3 * i:3 * i + 3]) for i, n in enumerate(names)]


def plan_handovers(store: Store, config: Config, node: str) -> list[Handover]:
    """A target (or None) for each VM that ran on the node, biggest VMs first."""
    uuids = store.children("root.domains")
    keys = ("domain", "domain.xml", "domain.status", "domain.meta")
    values = store.read_many([(k, {"domain": u}) for u in uuids for k in keys])
    found: list[tuple[int, str, str, dict[str, Any], tuple[str, ...]]] = []
    for i, uuid in enumerate(uuids):
        name, xml, raw_status, raw_meta = values[4 * i:4 * i + 4]
        if name is None or raw_status is None or not _moves(node, vm.status_of(raw_status)):
            continue
        try:
            spec = vmxml.parse(xml or "")
            memory, volumes = spec.memory_mib, tuple(spec.rbd_volumes)
        except InvalidArgument:
            memory, volumes = 0, ()
        found.append((memory, uuid, str(name), vm.meta_of(raw_meta), volumes))
    found.sort(key=lambda f: (-f[0], f[2]))
    loads = _loads(store)
    default = str(store.read("config.migration_target_selector", default="")
                  or config.target_selector)
    reserved: dict[str, int] = {}
    plan = []
    for memory, uuid, name, meta, volumes in found:
        selector = meta["node_selector"] if meta["node_selector"] != "none" else default
        try:
            target = placement.choose(loads, selector, memory, [node], meta["node_limit"],
                                      reserved)
        except ValueError:  # an unknown selector in the record: use the default
            target = placement.choose(loads, "mem", memory, [node], meta["node_limit"],
                                      reserved)
        if target:
            reserved[target] = reserved.get(target, 0) + memory
        plan.append(Handover(uuid, name, target, volumes))
    return plan


def _break_locks(storage: LockBreaker, config: Config, node: str, h: Handover) -> None:
    addresses = rbd_locks.node_addresses(config)
    for full in h.volumes:
        pool, volume = full.split("/", 1)
        try:
            for lock in storage.lock_list(pool, volume):
                if rbd_locks.holder(lock, addresses) != node:
                    continue  # not the fenced node's: the start on the target judges it
                storage.lock_break(pool, volume, str(lock["locker"]), str(lock["cookie"]))
                log.warning("Broke lock %s on %s of VM %s held by fenced node %s",
                            lock.get("locker"), full, h.name, node)
        except NotFound:
            continue  # the volume or the lock vanished meanwhile
        except PVCError as exc:
            log.error("Could not break the locks on %s of VM %s: %s", full, h.name, exc)


def _hand_over(store: Store, config: Config, storage: LockBreaker | None, node: str,
               h: Handover) -> None:
    try:
        if storage is not None and h.volumes:
            _break_locks(storage, config, node, h)
        for _ in range(5):
            try:
                if _write(store, node, h):
                    return
            except Conflict:
                continue  # the VM changed while we looked: look again
        log.error("VM %s kept changing: left as it is", h.name)
    except PVCError as exc:
        log.error("Could not hand over VM %s of fenced node %s: %s", h.name, node, exc)


def _write(store: Store, node: str, h: Handover) -> bool:
    """One transaction for the VM; True when done (or nothing is left to do)."""
    raw, version = store.read_versioned("domain.status", domain=h.uuid)
    status = vm.status_of(raw)
    if not _moves(node, status):
        return True  # someone else moved or stopped it meanwhile
    seq = int((status.get("intent") or {}).get("seq", 0)) + 1
    txn = store.txn()
    if h.target:
        txn.set("domain.status", {**status, "state": "start", "node": h.target,
                                  "last_node": node, "failed_reason": "",
                                  "intent": {"force": False, "seq": seq}},
                version=version, domain=h.uuid)
    else:
        meta, meta_version = store.read_versioned("domain.meta", domain=h.uuid)
        txn.set("domain.status", {**status, "state": "stop", "node": node,
                                  "failed_reason": "", "intent": {"force": True, "seq": seq}},
                version=version, domain=h.uuid)
        txn.set("domain.meta", {**vm.meta_of(meta), "node_autostart": True},
                version=meta_version, domain=h.uuid)
    try:
        txn.commit()
    except NotFound:
        return True  # the VM was removed
    except AlreadyExists:
        return False
    if h.target:
        log.warning("VM %s of fenced node %s starts on %s", h.name, node, h.target)
    else:
        log.warning("No node can take VM %s of fenced node %s: stopped, to start there "
                    "when it is ready", h.name, node)
    return True
