"""Cluster-wide reads and writes: status, maintenance mode, the primary node."""

from __future__ import annotations

import time
import uuid as uuidlib
from collections import Counter
from dataclasses import dataclass

from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from pvc.common.config import Config
from pvc.ops.cluster import faults
from pvc.ops.node.health import DEAD_NODE_DELTA
from pvc.ops.node.records import Memory, NodeRecord, node_names, read_nodes
from pvc.state.store import Store, zk_error

NO_PRIMARY = "none"


@dataclass(frozen=True)
class HealthMessage:
    id: str
    health_delta: int
    text: str


@dataclass(frozen=True)
class Counts:
    vms_total: int
    vms_by_state: dict[str, int]
    networks: int
    osds: int
    osds_by_state: dict[str, int]
    pools: int
    volumes: int
    snapshots: int


@dataclass(frozen=True)
class Resources:
    cpu_total: int
    cpu_load: float
    cpu_utilization: float
    vcpu_allocated: int
    memory: Memory
    memory_utilization: float
    disk_total: int = 0
    disk_used: int = 0
    disk_free: int = 0
    disk_utilization: float = 0.0


@dataclass(frozen=True)
class ClusterStatus:
    cluster_name: str
    primary_node: str
    maintenance: bool
    upstream_ip: str
    nodes: list[NodeRecord]
    counts: Counts
    resources: Resources
    health: int
    messages: list[HealthMessage]

    def node_state_counts(self) -> dict[str, int]:
        """`{"run,ready": n, ...}`: nodes by "daemon_state,domain_state"."""
        return dict(Counter(f"{n.daemon_state},{n.domain_state}" for n in self.nodes))


def children_many(store: Store, paths: list[str]) -> list[list[str]]:
    """The children of many raw paths at once (a missing path has none)."""
    asyncs = [store.zk.get_children_async(p) for p in paths]
    out: list[list[str]] = []
    for a in asyncs:
        try:
            out.append(sorted(a.get()))
        except NoNodeError:
            out.append([])
        except (KazooException, KazooTimeoutError) as exc:
            raise zk_error("list", exc) from exc
    return out


def _is_uuid(value: str) -> bool:
    try:
        return str(uuidlib.UUID(value)) == value
    except ValueError:
        return False


def _counts(store: Store) -> Counts:
    roots = [
        store.path(k)
        for k in (
            "root.domains",
            "root.networks",
            "root.ceph.osds",
            "root.ceph.pools",
            "root.ceph.volumes",
            "root.ceph.snapshots",
        )
    ]
    domains, networks, osds, pools, vol_pools, snap_pools = children_many(store, roots)
    # A VM's status may not be readable (being removed): such VMs count in the total only.
    statuses = store.read_many([("domain.status", {"domain": d}) for d in domains
                                if _is_uuid(d)])
    by_state = Counter(str(s.get("state")) for s in statuses
                       if isinstance(s, dict) and s.get("state"))
    volumes = children_many(store, [f"{roots[4]}/{p}" for p in vol_pools])
    snap_vol_paths = [f"{roots[5]}/{p}" for p in snap_pools]
    snap_vols = children_many(store, snap_vol_paths)
    snap_lists = children_many(
        store,
        [f"{base}/{v}" for base, vols in zip(snap_vol_paths, snap_vols, strict=True) for v in vols],
    )
    return Counts(
        vms_total=len(domains),
        vms_by_state=dict(by_state),
        networks=len(networks),
        osds=len(osds),
        osds_by_state=dict(Counter(
            f"{'up' if st.get('up') else 'down'},{'in' if st.get('in') else 'out'}"
            for st in store.read_many([("osd.stats", {"osd": o}) for o in osds])
            if isinstance(st, dict) and st)),
        pools=len(pools),
        volumes=sum(len(v) for v in volumes),
        snapshots=sum(len(s) for s in snap_lists),
    )


def _percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole > 0 else 0.0


def resources(nodes: list[NodeRecord]) -> Resources:
    """Capacity and use summed over the nodes whose daemon is running."""
    up = [n for n in nodes if n.daemon_state == "run" and not n.health.lost]
    cpu_total = sum(n.cpu_count for n in up)
    load = round(sum(n.load for n in up), 2)
    memory = Memory(
        total=sum(n.memory.total for n in up),
        used=sum(n.memory.used for n in up),
        free=sum(n.memory.free for n in up),
        allocated=sum(n.memory.allocated for n in up),
        provisioned=sum(n.memory.provisioned for n in up),
    )
    return Resources(
        cpu_total=cpu_total,
        cpu_load=load,
        cpu_utilization=_percent(load, cpu_total),
        vcpu_allocated=sum(n.vcpu_allocated for n in up),
        memory=memory,
        memory_utilization=_percent(memory.used, memory.total),
    )


def health_messages(
    nodes: list[NodeRecord], stored: list[faults.Fault] | None = None,
    maintenance: bool = False,
) -> list[HealthMessage]:
    """What lowers the cluster's health, largest delta first: the stored faults that are
    not acknowledged, plus a DEAD_NODE for each lost node that the primary's fault monitor
    has not recorded yet (it runs every `monitoring_interval`, and not at all while there
    is no primary). A recorded fault, acknowledged or not, replaces its live twin. In
    maintenance mode no fault arises, as in PVC: the live twins are not shown either (the
    stored faults still are, until acknowledged or deleted)."""
    stored = stored or []
    known = {f.id for f in stored}
    out = [HealthMessage(f.id, f.health_delta, f.message) for f in stored if not f.acknowledged]
    for n in [] if maintenance else nodes:
        fid = f"DEAD_NODE_{n.name}"
        if n.health.lost and fid not in known:
            why = "; ".join(d.message for d in n.health.details if d.health_delta > 0)
            out.append(HealthMessage(fid, DEAD_NODE_DELTA,
                                     f"Node {n.name} is {n.daemon_state}: {why}"))
    return sorted(out, key=lambda m: (-m.health_delta, m.id))


def status(store: Store, config: Config, now: float | None = None) -> ClusterStatus:
    now = time.time() if now is None else now
    primary, maintenance, upstream = store.read_many(
        [("config.primary_node", {}), ("config.maintenance", {}), ("config.upstream_ip", {})]
    )
    nodes = read_nodes(
        store, node_names(store), config.keepalive_interval, config.fence_intervals, now
    )
    messages = health_messages(nodes, faults.list_faults(store), bool(maintenance))
    return ClusterStatus(
        cluster_name=config.cluster_name,
        primary_node=primary if isinstance(primary, str) and primary else NO_PRIMARY,
        maintenance=bool(maintenance),
        upstream_ip=upstream if isinstance(upstream, str) else "",
        nodes=nodes,
        counts=_counts(store),
        resources=resources(nodes),
        health=max(0, 100 - sum(m.health_delta for m in messages)),
        messages=messages,
    )


def primary_node(store: Store) -> str | None:
    """The current primary coordinator, or None while there is none."""
    value = store.read("config.primary_node", default=NO_PRIMARY)
    return value if isinstance(value, str) and value not in ("", NO_PRIMARY) else None


def set_maintenance(store: Store, enabled: bool) -> str:
    store.write("config.maintenance", enabled)
    return "Set the cluster in maintenance mode." if enabled else "Set the cluster in normal mode."
