"""The checks before a VM is built from a plan (PVC's order): the name is free, a ready
node has the VM's memory and 512 MiB more (the one with the most free memory is the
target), every network exists, every pool has room for its new disks (their full size;
a linked clone of a source volume counts as nothing, it grows as it is written), every
source volume exists, and every disk's filesystem has its mkfs tool on the node that runs
the build. Each refusal names what is wrong; nothing is changed by a check."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pvc.common import names
from pvc.common.config import Config
from pvc.common.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from pvc.common.sizes import human
from pvc.drivers.storage.base import Storage
from pvc.ops.node.records import NodeRecord
from pvc.ops.provisioner import macs
from pvc.ops.provisioner.plan import BuildPlan
from pvc.ops.storage import volumes as volume_ops
from pvc.ops.vm import placement
from pvc.state.store import Store

HEADROOM_MIB = 512
GiB = 1 << 30
_FILESYSTEM = re.compile(r"^[a-z0-9][a-z0-9._-]{0,30}$")


@dataclass(frozen=True)
class Disk:
    """A disk of the VM to be: its volume, and how it is made (a size, or a clone)."""

    pool: str
    disk_id: str
    volume: str
    size_gb: int | None
    source_volume: str | None
    filesystem: str | None
    filesystem_args: str
    mountpoint: str | None


def volume_name(vm_name: str, disk_id: str) -> str:
    return names.storage_name(f"{vm_name}_{disk_id}", "volume name")


def disks_of(plan: BuildPlan, vm_name: str) -> list[Disk]:
    return [Disk(pool=d["pool"], disk_id=d["disk_id"],
                 volume=volume_name(vm_name, d["disk_id"]),
                 size_gb=d.get("disk_size_gb"), source_volume=d.get("source_volume"),
                 filesystem=d.get("filesystem"), filesystem_args=d.get("filesystem_args") or "",
                 mountpoint=d.get("mountpoint")) for d in plan.disks]


def mkfs_tool(filesystem: str) -> str:
    """The command that makes `filesystem` (swap: mkswap)."""
    if not _FILESYSTEM.fullmatch(filesystem):
        raise InvalidArgument(f"Invalid filesystem {filesystem!r}")
    return "mkswap" if filesystem == "swap" else f"mkfs.{filesystem}"


def check_name(store: Store, vm_name: str) -> None:
    names.object_name(vm_name, "VM name")
    other = store.read("index.domain_name", default=None, name=vm_name)
    if other:
        raise AlreadyExists(f'A VM named "{vm_name}" already exists (UUID {other})')


def pick_node(records: list[NodeRecord], memory_mib: int, node_limit: Iterable[str]) -> str:
    """The ready node with the most free memory, if it has `memory_mib` + 512 MiB."""
    limit = set(node_limit)
    ready = [r for r in records if r.daemon_state == "run" and r.domain_state == "ready"
             and (not limit or r.name in limit)]
    if not ready:
        raise InvalidState("No node is ready to take the VM"
                           + (f" (its node limit is {', '.join(sorted(limit))})" if limit else ""))
    best = max(ready, key=lambda r: (r.memory.free, r.name))
    needed = memory_mib + HEADROOM_MIB
    if best.memory.free < needed:
        raise InvalidState(f"No node has {needed} MiB of free memory for the VM ({memory_mib} "
                           f"MiB + {HEADROOM_MIB}); the most is {best.memory.free} MiB on "
                           f"{best.name}")
    return best.name


def check_networks(store: Store, vnis: Iterable[str]) -> None:
    missing = [v for v in vnis if not v.isdigit() or not store.exists("network", vni=v)]
    if missing:
        raise NotFound(f"The network template names network(s) {', '.join(missing)}, which "
                       "do not exist: create them first (pvc network add)")


def check_macs(plan: BuildPlan, vm_name: str) -> list[str]:
    """The VM's MACs by the template (random ones without a template)."""
    if not plan.mac_template:
        return macs.random_macs(len(plan.vnis))
    found = [macs.render_mac(plan.mac_template, vm_name, i) for i in range(len(plan.vnis))]
    if len(set(found)) != len(found):
        raise InvalidArgument(f"The MAC template {plan.mac_template!r} gives VM {vm_name!r} "
                              f"the same MAC twice ({', '.join(found)}): add {{netid}}")
    return found


def check_pools(store: Store, storage: Storage, disks: list[Disk]) -> None:
    wanted: dict[str, int] = defaultdict(int)
    for disk in disks:
        names.storage_name(disk.pool, "pool name")
        if not store.exists("pool", pool=disk.pool):
            raise NotFound(f'The storage template names pool "{disk.pool}", which does not '
                           "exist")
        if store.exists("volume", pool=disk.pool, volume=disk.volume):
            raise AlreadyExists(f'Volume "{disk.pool}/{disk.volume}" already exists: remove '
                                "it or choose another VM name")
        if disk.source_volume:  # a linked clone: it takes room only as it is written
            names.storage_name(disk.source_volume, "source volume name")
            _source_info(storage, disk.pool, disk.source_volume)
        elif disk.size_gb:
            wanted[disk.pool] += int(disk.size_gb) * GiB
    for pool, size in wanted.items():
        free, _ = volume_ops.pool_space(storage, pool)
        if size > free:
            raise InvalidArgument(f'The VM\'s disks in pool "{pool}" need {human(size)}, more '
                                  f"than its free space ({human(free)})")


def _source_info(storage: Storage, pool: str, volume: str) -> dict[str, Any]:
    try:
        return dict(storage.volume_info(pool, volume))
    except NotFound:
        raise NotFound(f'The storage template clones volume "{pool}/{volume}", which does '
                       "not exist") from None


def check_filesystems(disks: list[Disk], which: Callable[[str], str | None] = shutil.which) \
        -> None:
    for disk in disks:
        if disk.filesystem and which(mkfs_tool(disk.filesystem)) is None:
            raise InvalidState(f"Disk {disk.disk_id} wants filesystem {disk.filesystem}, but "
                               f"this node has no {mkfs_tool(disk.filesystem)}")


def check(store: Store, storage: Storage, config: Config, plan: BuildPlan,
          vm_name: str) -> str:
    """Every check; the node the VM goes to."""
    check_name(store, vm_name)
    disks = disks_of(plan, vm_name)
    records = placement.node_records(store, config)
    limit = placement.parse_limit(plan.system.get("node_limit") or None,
                                  [r.name for r in records])
    target = pick_node(records, int(plan.system["vram_mb"]), limit)
    check_networks(store, plan.vnis)
    check_macs(plan, vm_name)
    check_pools(store, storage, disks)
    check_filesystems(disks)
    return target
