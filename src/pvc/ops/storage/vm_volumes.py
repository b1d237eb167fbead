"""What VMs do to their RBD volumes: `vm remove` deletes them (after the VM stopped) and
`vm rename` renames the ones named after the VM (`<vm>_<rest>`), as PVC does."""

from __future__ import annotations

import contextlib

from pvc.common import names, vmxml
from pvc.common.errors import AlreadyExists, NotFound
from pvc.drivers.storage.base import Storage
from pvc.ops import waiting
from pvc.ops.storage import volumes as storage_volumes
from pvc.ops.vm import actions as vm_actions
from pvc.ops.vm import define as vm_define
from pvc.ops.vm.records import get_vm
from pvc.state.store import Store

STOP_TIMEOUT = 120.0


def remove_with_disks(store: Store, storage: Storage, ident: str,
                      timeout: float = STOP_TIMEOUT,
                      cancelled: waiting.Cancelled = waiting.never) -> str:
    """Stop the VM (if it runs), delete its record, then delete its RBD volumes."""
    rec = get_vm(store, ident)
    volumes = list(rec.spec.rbd_volumes) if rec.spec else []
    if rec.state not in vm_define.STOPPED_STATES:
        vm_actions.set_state(store, rec.uuid, "stop", force=True)
        waiting.wait_vm(store, rec.uuid, "stop", timeout, cancelled=cancelled)
    vm_define.remove(store, rec.uuid)
    removed = []
    for full in volumes:
        pool, volume = full.split("/", 1)
        with contextlib.suppress(NotFound):
            storage.volume_remove(pool, volume)
        if store.exists("volume", pool=pool, volume=volume):
            storage_volumes.forget(store, pool, volume)
        removed.append(full)
    return (f'Removed VM "{rec.name}" and its volumes {", ".join(removed)}.' if removed
            else f'Removed VM "{rec.name}" (it had no RBD volumes).')


def volume_renames(volumes: list[str], old: str, new: str) -> dict[str, str]:
    """{"pool/old_disk0": "pool/new_disk0"} for the volumes named after the VM."""
    out = {}
    for full in volumes:
        pool, volume = full.split("/", 1)
        if volume.startswith(old + "_"):
            renamed = new + volume[len(old):]
            names.storage_name(renamed, "volume name")
            out[full] = f"{pool}/{renamed}"
    return out


def rename_with_disks(store: Store, storage: Storage, ident: str, new_name: str) -> str:
    """Rename a stopped VM and the volumes named after it; the XML follows."""
    rec = get_vm(store, ident)
    renames = volume_renames(list(rec.spec.rbd_volumes) if rec.spec else [], rec.name,
                             names.object_name(new_name, "new VM name"))
    for target in renames.values():
        pool, volume = target.split("/", 1)
        if store.exists("volume", pool=pool, volume=volume) or volume in \
                storage.volume_names(pool):
            raise AlreadyExists(f'Volume "{target}" already exists; cannot rename '
                                          f'the disks of VM "{rec.name}"')
    message = vm_define.rename(store, rec.uuid, new_name)  # checks state and the name
    done = []
    for source, target in renames.items():
        pool, volume = source.split("/", 1)
        new_volume = target.split("/", 1)[1]
        storage.volume_rename(pool, volume, new_volume)
        if store.exists("volume", pool=pool, volume=volume):
            storage_volumes.move_records(store, storage, pool, volume, new_volume)
        done.append(source)
    if renames:
        xml, version = store.read_versioned("domain.xml", domain=rec.uuid)
        store.write("domain.xml", vmxml.with_rbd_sources(xml, renames), version=version,
                    domain=rec.uuid)
        message += f" Renamed its volumes {', '.join(f'{s} to {renames[s]}' for s in done)}."
    return message
