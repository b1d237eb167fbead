"""Turn the records of `pvc.ops` into the wire shapes of `pvc.api.schemas`."""

from __future__ import annotations

from pvc import __version__
from pvc.api import schemas
from pvc.ops.cluster.status import ClusterStatus
from pvc.ops.node.records import NodeRecord

API_VERSION = "1.0"


def node(record: NodeRecord) -> schemas.Node:
    m = record.memory
    return schemas.Node(
        name=record.name,
        daemon_state=record.daemon_state,
        coordinator_state=record.coordinator_state,
        domain_state=record.domain_state,
        domains_count=record.domains_count,
        running_domains=" ".join(record.running_domains),
        cpu_count=record.cpu_count,
        load=record.load,
        memory=schemas.NodeMemory(
            total=m.total,
            used=m.used,
            free=m.free,
            allocated=m.allocated,
            provisioned=m.provisioned,
        ),
        vcpu=schemas.NodeVcpu(total=record.cpu_count, allocated=record.vcpu_allocated),
        kernel=record.kernel,
        os=record.os,
        arch=record.arch,
        pvc_version=record.pvc_version,
        health=record.health.health,
        health_details=[
            schemas.HealthDetail(
                name=d.name,
                health_delta=d.health_delta,
                message=d.message,
                last_run=d.last_run,
            )
            for d in record.health.details
        ],
        health_plugins=[],
        interfaces=dict(record.interfaces),
    )


def node_health(record: NodeRecord) -> schemas.NodeHealthSummary:
    return schemas.NodeHealthSummary(
        health=record.health.health,
        messages=[f"{d.name}: {d.message}" for d in record.health.details if d.health_delta > 0],
    )


def status(st: ClusterStatus) -> schemas.ClusterStatus:
    res = st.resources
    mem = res.memory
    return schemas.ClusterStatus(
        cluster_name=st.cluster_name,
        cluster_health=schemas.ClusterHealth(
            health=st.health,
            messages=[
                schemas.ClusterHealthMessage(id=m.id, health_delta=m.health_delta, text=m.text)
                for m in st.messages
            ],
        ),
        node_health={n.name: node_health(n) for n in st.nodes},
        maintenance="true" if st.maintenance else "false",
        primary_node=st.primary_node,
        pvc_version=__version__,
        upstream_ip=st.upstream_ip,
        nodes={**st.node_state_counts(), "total": len(st.nodes)},
        vms={**st.counts.vms_by_state, "total": st.counts.vms_total},
        osds={**st.counts.osds_by_state, "total": st.counts.osds},
        networks=st.counts.networks,
        pools=st.counts.pools,
        volumes=st.counts.volumes,
        snapshots=st.counts.snapshots,
        resources=schemas.ClusterResources(
            cpu=schemas.CpuResources(
                total=res.cpu_total,
                load=res.cpu_load,
                utilization=res.cpu_utilization,
                allocated=res.vcpu_allocated,
            ),
            memory=schemas.MemoryResources(
                total=mem.total,
                used=mem.used,
                free=mem.free,
                allocated=mem.allocated,
                provisioned=mem.provisioned,
                utilization=res.memory_utilization,
            ),
            disk=schemas.DiskResources(
                total=res.disk_total,
                used=res.disk_used,
                free=res.disk_free,
                utilization=res.disk_utilization,
            ),
        ),
    )
