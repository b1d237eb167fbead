"""Wire shapes of the PVC v1 VM endpoints (response models and parameter value sets).

The VM objects are built as plain dicts by `pvc.api.vm.views` (a listing of a thousand VMs
must not pay for model validation); these models document them in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

VmStateAction = Literal["start", "shutdown", "stop", "restart", "disable"]
VmNodeAction = Literal["migrate", "unmigrate", "move"]
TagAction = Literal["add", "remove"]
DomainStateAction = Literal["flush", "ready"]


class VmVnc(BaseModel):
    listen: str = Field(description='The VNC listen address ("" when the VM has none)')
    port: str = Field(description='The VNC port, as a string ("" when the VM has none)')


class VmDisk(BaseModel):
    type: str
    name: str
    dev: str
    bus: str
    rd_req: int = 0
    rd_bytes: int = 0
    wr_req: int = 0
    wr_bytes: int = 0
    errs: int = 0


class VmNetwork(BaseModel):
    type: str
    source: str
    mac: str
    model: str
    vni: str = Field(description='The VNI or "cluster"/"storage"/"upstream", "macvtap:<dev>"…')
    rd_bytes: int = 0
    rd_packets: int = 0
    rd_errors: int = 0
    rd_drops: int = 0
    wr_bytes: int = 0
    wr_packets: int = 0
    wr_errors: int = 0
    wr_drops: int = 0


class VmController(BaseModel):
    type: str
    model: str


class VmTag(BaseModel):
    name: str
    type: str
    protected: bool


class VmSnapshot(BaseModel):
    name: str
    timestamp: str
    age: int = Field(description="Seconds since the snapshot was taken")
    xml_diff_lines: list[str]
    rbd_snapshots: list[str]


class Vm(BaseModel):
    name: str
    uuid: str
    description: str
    profile: str
    state: str
    node: str
    last_node: str
    migrated: str = Field(description='"no", or "from <last_node>"')
    failed_reason: str
    memory: int = Field(description="MiB")
    vcpu: int
    vcpu_topology: str = Field(description="sockets/cores/threads")
    vnc: VmVnc
    type: str
    arch: str
    machine: str
    emulator: str
    features: list[str]
    memory_stats: dict[str, Any] = Field(description="libvirt memory statistics (KiB)")
    vcpu_stats: dict[str, Any] = Field(description="cpu_time, user_time, system_time (ns)")
    disks: list[VmDisk]
    networks: list[VmNetwork]
    controllers: list[VmController]
    tags: list[VmTag]
    snapshots: list[VmSnapshot]
    node_limit: list[str]
    node_selector: str
    node_autostart: bool
    migration_method: str
    migration_max_downtime: int = Field(description="Milliseconds")
    xml: str = Field(description="The libvirt domain XML")


class VmState(BaseModel):
    name: str
    state: str


class VmNode(BaseModel):
    name: str
    node: str
    last_node: str


class VmMeta(BaseModel):
    name: str
    node_limit: list[str]
    node_selector: str
    node_autostart: bool
    migration_method: str
    migration_max_downtime: int


class VmTags(BaseModel):
    name: str
    tags: list[VmTag]


class VmLog(BaseModel):
    name: str
    data: str
