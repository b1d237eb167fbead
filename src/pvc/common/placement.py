"""Choosing a node for a VM: the candidates (run and ready, inside the VM's node limit,
with room for its memory) ranked by a selector. Pure logic, shared by the API (migrate,
move, define), flush and fencing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pvc.common.vm import SELECTORS


@dataclass(frozen=True)
class NodeLoad:
    name: str
    daemon_state: str
    domain_state: str
    memory_total: int  # MiB
    memory_free: int  # MiB, real free memory
    memory_provisioned: int  # MiB, all VMs assigned to the node
    vcpu_allocated: int
    load: float
    vms: int  # VMs assigned to the node


def eligible(node: NodeLoad) -> bool:
    return node.daemon_state == "run" and node.domain_state == "ready"


def choose(
    nodes: Iterable[NodeLoad],
    selector: str,
    memory_mib: int,
    exclude: Iterable[str] = (),
    node_limit: Iterable[str] = (),
    reserved: Mapping[str, int] | None = None,
) -> str | None:
    """The best node for a VM of `memory_mib`, or None when no node can take it.

    `reserved` is memory already promised to VMs on their way to a node (a flush moving
    several at once), so that no target is overcommitted."""
    if selector not in SELECTORS:
        raise ValueError(f"unknown selector {selector!r}")
    limit = set(node_limit)
    skip = set(exclude)
    promised = reserved or {}
    fits = [n for n in nodes
            if eligible(n) and n.name not in skip and (not limit or n.name in limit)
            and n.memory_free - promised.get(n.name, 0) >= memory_mib]

    def key(n: NodeLoad) -> tuple[float, str]:
        held = promised.get(n.name, 0)
        if selector == "mem":
            return (-(n.memory_free - held), n.name)
        if selector == "memprov":
            return (-(n.memory_total - n.memory_provisioned - held), n.name)
        if selector == "vcpus":
            return (n.vcpu_allocated, n.name)
        if selector == "load":
            return (n.load, n.name)
        return (n.vms, n.name)

    return min(fits, key=key).name if fits else None


def load_from(name: str, daemon_state: str | None, domain_state: str | None,
              stats: dict[str, object] | None) -> NodeLoad:
    """A NodeLoad from a node's raw record values (its `stats` as keepalives publish it)."""
    st = stats or {}
    mem = st.get("memory")
    memory = mem if isinstance(mem, dict) else {}

    def num(value: object) -> float:
        return float(value) if isinstance(value, int | float) else 0.0

    return NodeLoad(
        name=name,
        daemon_state=daemon_state or "",
        domain_state=domain_state or "",
        memory_total=int(num(memory.get("total"))),
        memory_free=int(num(memory.get("free"))),
        memory_provisioned=int(num(memory.get("provisioned"))),
        vcpu_allocated=int(num(st.get("vcpu_allocated"))),
        load=num(st.get("load")),
        vms=int(num(st.get("domains_count"))),
    )
