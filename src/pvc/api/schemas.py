"""Wire shapes of the PVC v1 API (response models, parameter value sets)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

DaemonState = Literal["init", "run", "shutdown", "stop", "dead", "fenced"]
CoordinatorState = Literal["client", "secondary", "takeover", "primary", "relinquish"]
DomainState = Literal["ready", "flush", "flushed", "unflush", "fence-flush"]
CoordinatorAction = Literal["primary", "secondary"]


class Message(BaseModel):
    message: str


class ErrorMessage(BaseModel):
    message: str
    error: str | None = Field(None, description="The error class, e.g. NotFound")


class NodeMemory(BaseModel):
    total: int = Field(description="MiB")
    used: int
    free: int
    allocated: int
    provisioned: int


class NodeVcpu(BaseModel):
    total: int = Field(description="Real CPU cores (the node's cpu_count)")
    allocated: int


class HealthDetail(BaseModel):
    name: str
    health_delta: int
    message: str
    last_run: int


class Node(BaseModel):
    name: str
    daemon_state: str
    coordinator_state: str
    domain_state: str
    domains_count: int
    running_domains: str = Field(description="Space-separated UUIDs of the running VMs")
    cpu_count: int
    load: float
    memory: NodeMemory
    vcpu: NodeVcpu
    kernel: str
    os: str
    arch: str
    pvc_version: str
    health: int
    health_details: list[HealthDetail]
    health_plugins: list[str]
    interfaces: dict[str, Any]


class NodeDaemonState(BaseModel):
    name: str
    daemon_state: str


class NodeCoordinatorState(BaseModel):
    name: str
    coordinator_state: str


class NodeDomainState(BaseModel):
    name: str
    domain_state: str


class NodeLog(BaseModel):
    name: str
    data: str


class PrimaryNode(BaseModel):
    primary_node: str | None = Field(description="null while no node is primary")


class ClusterHealthMessage(BaseModel):
    id: str
    health_delta: int
    text: str


class ClusterHealth(BaseModel):
    health: int
    messages: list[ClusterHealthMessage]


class NodeHealthSummary(BaseModel):
    health: int
    messages: list[str]


class CpuResources(BaseModel):
    total: int
    load: float
    utilization: float = Field(description="Percent")
    allocated: int = Field(description="vCPUs allocated to running VMs")


class MemoryResources(BaseModel):
    total: int = Field(description="MiB")
    used: int
    free: int
    allocated: int
    provisioned: int
    utilization: float = Field(description="Percent")


class DiskResources(BaseModel):
    total: int = Field(description="KiB")
    used: int
    free: int
    utilization: float = Field(description="Percent")


class ClusterResources(BaseModel):
    cpu: CpuResources
    memory: MemoryResources
    disk: DiskResources


class ClusterStatus(BaseModel):
    cluster_name: str
    cluster_health: ClusterHealth
    node_health: dict[str, NodeHealthSummary]
    maintenance: str = Field(description='"true" or "false"')
    primary_node: str
    pvc_version: str
    upstream_ip: str
    nodes: dict[str, int] = Field(description='Counts by "daemon_state,domain_state", and total')
    vms: dict[str, int] = Field(description="Counts by VM state, and total")
    osds: dict[str, int] = Field(description='Counts by "up,in" state, and total')
    networks: int
    pools: int
    volumes: int
    snapshots: int
    resources: ClusterResources


# Documented error answers of the routes.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorMessage}}
BAD_REQUEST: dict[int | str, dict[str, Any]] = {400: {"model": ErrorMessage}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorMessage}}
