"""The primary's cluster fault generator: every `monitoring_interval` it looks at what the
daemons publish in ZooKeeper and raises PVC's cluster faults (`pvc.ops.cluster.faults`):

    DEAD_NODE_<node>        node dead, fenced, or silent in run        50
    VM_FAILED_<vm>          VM in state `fail`                         10
    CEPH_OSD_OUT_<id>       OSD marked out                             50
    CEPH_WARN_<check>       Ceph health check while HEALTH_WARN        10
    CEPH_ERR_<check>        Ceph health check while HEALTH_ERR         50
    MEMORY_OVERPROVISIONED  allocated memory >= total - largest node   50

The interval is PVC's (15 s by default): the status view computes DEAD_NODE live in the
meantime, so nothing waits on this loop to be seen. The Ceph health published by the
primary (`ceph.health`) carries the overall status and the names of the checks, not each
check's own severity, so every check takes the overall severity. Faults are only raised,
never cleared: as in PVC, an operator acknowledges or deletes them. Nothing is raised in
maintenance mode (`raise_fault` refuses).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pvc.common.config import Config
from pvc.common.errors import InvalidArgument
from pvc.node.primary.loop import PrimaryLoop
from pvc.ops.cluster import faults
from pvc.ops.node.health import DEAD_NODE_DELTA
from pvc.ops.node.records import NodeRecord, node_names, read_nodes
from pvc.state.store import Store

log = logging.getLogger(__name__)

VM_FAILED_DELTA = 10
OSD_OUT_DELTA = 50
CEPH_WARN_DELTA = 10
CEPH_ERR_DELTA = 50
MEMORY_OVERPROVISIONED_DELTA = 50


@dataclass(frozen=True)
class Detected:
    id: str
    delta: int
    message: str


def _dead_nodes(nodes: list[NodeRecord]) -> list[Detected]:
    return [Detected(f"DEAD_NODE_{n.name}", DEAD_NODE_DELTA,
                     f"Node {n.name} was dead and/or fenced (daemon state {n.daemon_state})")
            for n in nodes if n.health.lost or n.daemon_state in ("dead", "fenced")]


def _memory(nodes: list[NodeRecord]) -> list[Detected]:
    up = [n for n in nodes if n.daemon_state == "run" and not n.health.lost]
    if not up:
        return []
    total = sum(n.memory.total for n in up)
    allocated = sum(n.memory.allocated for n in up)
    usable = total - max(n.memory.total for n in up)
    if allocated > 0 and allocated >= usable:
        return [Detected("MEMORY_OVERPROVISIONED", MEMORY_OVERPROVISIONED_DELTA,
                         f"Cluster memory was overprovisioned: {allocated} MiB allocated, "
                         f"{usable} MiB available with the largest node down (N-1)")]
    return []


def _failed_vms(store: Store) -> list[Detected]:
    uuids = store.children("root.domains") if store.exists("root.domains") else []
    values = store.read_many([(k, {"domain": u}) for u in uuids
                              for k in ("domain", "domain.status")])
    out = []
    for i, _ in enumerate(uuids):
        name, status = values[2 * i], values[2 * i + 1]
        if isinstance(name, str) and name and isinstance(status, dict) \
                and status.get("state") == "fail":
            reason = str(status.get("failed_reason") or "").strip()
            out.append(Detected(f"VM_FAILED_{name}", VM_FAILED_DELTA,
                                f"VM {name} was failed" + (f": {reason}" if reason else "")))
    return out


def _ceph(store: Store) -> list[Detected]:
    out = []
    osds = store.children("root.ceph.osds") if store.exists("root.ceph.osds") else []
    for osd, stats in zip(osds, store.read_many([("osd.stats", {"osd": o}) for o in osds]),
                          strict=True):
        if isinstance(stats, dict) and stats and not stats.get("in"):
            out.append(Detected(f"CEPH_OSD_OUT_{osd}", OSD_OUT_DELTA,
                                f"OSD {osd} was marked out"))
    health = store.read("ceph.health", default={})
    if not isinstance(health, dict):
        return out
    status = str(health.get("status", ""))
    severity = {"HEALTH_WARN": ("WARN", CEPH_WARN_DELTA),
                "HEALTH_ERR": ("ERR", CEPH_ERR_DELTA)}.get(status)
    checks = health.get("checks") or {}
    if severity is None or not isinstance(checks, dict):
        return out
    kind, delta = severity
    for check, summary in sorted(checks.items()):
        out.append(Detected(f"CEPH_{kind}_{check}", delta,
                            f"{status} {check}: {summary}".strip()))
    return out


def detect(store: Store, config: Config, now: float | None = None) -> list[Detected]:
    """Every fault condition present in the cluster right now."""
    nodes = read_nodes(store, node_names(store), config.keepalive_interval,
                       config.fence_intervals, time.time() if now is None else now)
    return [*_dead_nodes(nodes), *_failed_vms(store), *_ceph(store), *_memory(nodes)]


def run_once(store: Store, config: Config, now: float | None = None) -> list[str]:
    """One monitoring round: raise every detected fault; the IDs raised (none in
    maintenance mode)."""
    if faults.in_maintenance(store):
        return []
    raised = []
    for d in detect(store, config, now):
        try:
            if faults.raise_fault(store, d.id, d.delta, d.message[:faults.MAX_MESSAGE]):
                raised.append(d.id)
        except InvalidArgument as exc:  # a name that cannot be a fault ID: say so, go on
            log.warning("Cannot record fault %s: %s", d.id, exc.message)
    return raised


class FaultMonitor(PrimaryLoop):
    """Runs `run_once` every `interval` seconds while `is_primary()` holds."""

    name = "fault-monitor"
    failed_text = "Fault monitoring round failed: %s"

    def __init__(self, store: Store, config: Config, is_primary: Callable[[], bool],
                 interval: float | None = None) -> None:
        super().__init__(is_primary,
                         config.monitoring_interval if interval is None else interval)
        self.store = store
        self.config = config

    def round(self) -> None:
        raised = run_once(self.store, self.config)
        if raised:
            log.debug("Cluster faults raised: %s", ", ".join(raised))
