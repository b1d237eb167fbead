"""Placement for the API: node figures as placement sees them, and the checks of a VM's
size and node limit against the cluster."""

from __future__ import annotations

from collections.abc import Iterable

from pvc.common import names, vmxml
from pvc.common.config import Config
from pvc.common.errors import InvalidArgument, InvalidState, NotFound
from pvc.common.placement import NodeLoad, choose, eligible
from pvc.ops.node.records import NodeRecord, node_names, read_nodes
from pvc.state.store import Store


def node_records(store: Store, config: Config) -> list[NodeRecord]:
    return read_nodes(store, node_names(store), config.keepalive_interval,
                      config.fence_intervals)


def loads(records: Iterable[NodeRecord]) -> list[NodeLoad]:
    return [NodeLoad(r.name, r.daemon_state, r.domain_state, r.memory.total, r.memory.free,
                     r.memory.provisioned, r.vcpu_allocated, r.load, r.domains_count)
            for r in records]


def parse_limit(value: str | list[str] | None, known: Iterable[str]) -> list[str]:
    """A node limit from `hv1,hv2` (or a list); every name must be a node of the cluster."""
    if value is None:
        return []
    items = value if isinstance(value, list) else value.split(",")
    out = [names.node_name(i.strip(), "node in the node limit") for i in items if i.strip()]
    unknown = sorted(set(out) - set(known))
    if unknown:
        raise InvalidArgument(f"The node limit names unknown nodes: {', '.join(unknown)}")
    return sorted(set(out), key=out.index)


def check_fits(spec: vmxml.DomainSpec, records: list[NodeRecord]) -> None:
    """Refuse a VM bigger than any node of the cluster."""
    if not records:
        raise InvalidState("The cluster has no nodes yet")
    biggest_mem = max(r.memory.total for r in records)
    if spec.memory_mib >= biggest_mem:
        raise InvalidArgument(f"VM memory {spec.memory_mib} MiB is more than any node has "
                              f"(the largest has {biggest_mem} MiB)")
    most_cpus = max(r.cpu_count for r in records)
    if spec.vcpus > most_cpus:
        raise InvalidArgument(f"VM vCPUs {spec.vcpus} are more than any node has "
                              f"(the most is {most_cpus})")


def selector_for(store: Store, config: Config, vm_selector: str) -> str:
    if vm_selector and vm_selector != "none":
        return vm_selector
    published = store.read("config.migration_target_selector", default="")
    return str(published or config.target_selector)


def pick_target(records: list[NodeRecord], selector: str, memory_mib: int,
                node_limit: list[str], target: str | None, current: str | None,
                what: str) -> str:
    """The named target after checking it, or the best node when none is named."""
    if target:
        names.node_name(target)
        rec = next((r for r in records if r.name == target), None)
        if rec is None:
            raise NotFound(f"Node {target} not found.")
        if node_limit and target not in node_limit:
            raise InvalidArgument(f"Node {target} is outside the VM's node limit "
                                  f"({', '.join(node_limit)})")
        if current is not None and not eligible(loads([rec])[0]):
            raise InvalidState(f"Node {target} cannot take VMs: it is "
                               f"{rec.daemon_state},{rec.domain_state} (needs run,ready)")
        return target
    chosen = choose(loads(records), selector, memory_mib,
                    exclude=[current] if current else [], node_limit=node_limit)
    if chosen is None:
        raise InvalidState(f"No node can take {what}: none in run,ready state with "
                           f"{memory_mib} MiB free" + (f" within {', '.join(node_limit)}"
                                                       if node_limit else ""))
    return chosen
