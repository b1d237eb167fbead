"""Prometheus text for `/metrics`, `/metrics/health` and `/metrics/resource`.

Built per scrape from one cluster status read: a collector yields the metric families into
a private registry, and prometheus-client renders the exposition format.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from pvc.ops.cluster.status import ClusterStatus

Subset = Literal["all", "health", "resource"]


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _health(st: ClusterStatus) -> Iterator[Metric]:
    yield _gauge("pvc_cluster_health", "Cluster health (percent)", st.health)
    yield _gauge(
        "pvc_cluster_maintenance",
        "1 while the cluster is in maintenance",
        1 if st.maintenance else 0,
    )
    yield _gauge("pvc_cluster_faults", "Number of health messages of the cluster", len(st.messages))
    primary = InfoMetricFamily("pvc_cluster_primary", "The current primary coordinator", labels=[])
    primary.add_metric([], {"node": st.primary_node})
    yield primary
    nodes = GaugeMetricFamily(
        "pvc_cluster_nodes",
        "Nodes by daemon and domain state",
        labels=["daemon_state", "domain_state"],
    )
    for combo, count in sorted(st.node_state_counts().items()):
        daemon, _, domain = combo.partition(",")
        nodes.add_metric([daemon, domain], count)
    yield nodes
    yield _gauge("pvc_cluster_node_count", "Number of nodes", len(st.nodes))
    health = GaugeMetricFamily("pvc_node_health", "Node health (percent)", labels=["node"])
    states = InfoMetricFamily("pvc_node_state", "Node states", labels=["node"])
    for n in st.nodes:
        health.add_metric([n.name], n.health.health)
        states.add_metric(
            [n.name],
            {
                "mode": n.mode,
                "daemon_state": n.daemon_state,
                "coordinator_state": n.coordinator_state,
                "domain_state": n.domain_state,
            },
        )
    yield health
    yield states


_NODE_GAUGES: tuple[tuple[str, str], ...] = (
    ("cpu_count", "CPU cores of the node"),
    ("load", "Load average of the node"),
    ("vcpus_allocated", "vCPUs allocated to VMs on the node"),
    ("vms", "VMs on the node"),
    ("memory_total", "Memory of the node (MiB)"),
    ("memory_used", "Memory used on the node (MiB)"),
    ("memory_free", "Memory free on the node (MiB)"),
    ("memory_allocated", "Memory allocated to running VMs on the node (MiB)"),
    ("memory_provisioned", "Memory provisioned to all VMs on the node (MiB)"),
    ("keepalive_timestamp_seconds", "Time of the node's last keepalive"),
)


def _resource(st: ClusterStatus) -> Iterator[Metric]:
    fams = {k: GaugeMetricFamily(f"pvc_node_{k}", doc, labels=["node"]) for k, doc in _NODE_GAUGES}
    for n in st.nodes:
        m = n.memory
        values = {
            "cpu_count": n.cpu_count,
            "load": n.load,
            "vcpus_allocated": n.vcpu_allocated,
            "vms": n.domains_count,
            "memory_total": m.total,
            "memory_used": m.used,
            "memory_free": m.free,
            "memory_allocated": m.allocated,
            "memory_provisioned": m.provisioned,
            "keepalive_timestamp_seconds": n.keepalive,
        }
        for key, value in values.items():
            fams[key].add_metric([n.name], value)
    yield from fams.values()
    r, c = st.resources, st.counts
    cluster = {
        "cpu_total": (r.cpu_total, "CPU cores of the running nodes"),
        "cpu_load": (r.cpu_load, "Summed load of the running nodes"),
        "cpu_utilization": (r.cpu_utilization, "Load per core (percent)"),
        "vcpus_allocated": (r.vcpu_allocated, "vCPUs allocated to VMs"),
        "memory_total": (r.memory.total, "Memory of the running nodes (MiB)"),
        "memory_used": (r.memory.used, "Memory used (MiB)"),
        "memory_free": (r.memory.free, "Memory free (MiB)"),
        "memory_allocated": (r.memory.allocated, "Memory allocated to running VMs (MiB)"),
        "memory_provisioned": (r.memory.provisioned, "Memory provisioned to VMs (MiB)"),
        "memory_utilization": (r.memory_utilization, "Memory used (percent)"),
        "vm_count": (c.vms_total, "Number of VMs"),
        "network_count": (c.networks, "Number of client networks"),
        "osd_count": (c.osds, "Number of Ceph OSDs"),
        "pool_count": (c.pools, "Number of Ceph pools"),
        "volume_count": (c.volumes, "Number of Ceph volumes"),
        "snapshot_count": (c.snapshots, "Number of Ceph snapshots"),
    }
    for key, (value, doc) in cluster.items():
        yield _gauge(f"pvc_cluster_{key}", doc, value)
    vms = GaugeMetricFamily("pvc_cluster_vms", "VMs by state", labels=["state"])
    for state, count in sorted(c.vms_by_state.items()):
        vms.add_metric([state], count)
    yield vms


class _Collector(Collector):
    def __init__(self, st: ClusterStatus, subset: Subset) -> None:
        self.st = st
        self.subset = subset

    def collect(self) -> Iterator[Metric]:
        if self.subset in ("all", "health"):
            yield from _health(self.st)
        if self.subset in ("all", "resource"):
            yield from _resource(self.st)


def render(st: ClusterStatus, subset: Subset = "all") -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(st, subset))
    return generate_latest(registry)
