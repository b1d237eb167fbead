"""`vm.flush_locks`: break every RBD lock on the disks of a stopped VM.

A lock left behind by a QEMU that died (a crashed node, a killed process) keeps the VM
from starting anywhere else. Breaking it blocklists its holder first (see the storage
driver), so this is only safe once nothing uses the disks: the VM must be stopped,
disabled, failed or a mirror, as PVC requires. `force` (not offered by the API) skips
that check for the callers that know better, such as fencing.

Runs on the VM's node (`POST /vm/{vm}/locks`).
"""

from __future__ import annotations

from typing import Any

from pvc.common.errors import InvalidState
from pvc.node.storage import rbd_locks
from pvc.ops.vm.define import STOPPED_STATES
from pvc.ops.vm.records import get_vm
from pvc.tasks import catalogue, context, progress
from pvc.tasks.registry import register


@register(catalogue.VM_FLUSH_LOCKS)
def flush_locks(task: Any, vm: str, force: bool = False) -> dict[str, Any]:
    """Break the RBD locks on the volumes of VM `vm` (a name or UUID)."""
    progress.start(task, 1, f"Checking VM {vm}")
    rec = get_vm(context.store(), vm)
    if not force and rec.state not in STOPPED_STATES:
        progress.fail(task, f'VM "{rec.name}" is in state "{rec.state}": its RBD locks can be '
                            f"flushed only when it is in state {', '.join(STOPPED_STATES)}",
                      InvalidState)
    if rec.spec is None:
        progress.fail(task, f'The XML of VM "{rec.name}" does not parse: cannot find its '
                            "disks", InvalidState)
    volumes = list(rec.spec.rbd_volumes)
    if not volumes:
        progress.update(task, 1, 1, "No RBD volumes")
        return progress.finish(task, f'VM "{rec.name}" has no RBD volumes: no locks to flush.')
    total = 1 + len(volumes)
    storage = context.storage()
    broken: list[dict[str, Any]] = []
    for step, volume in enumerate(volumes, start=1):
        progress.update(task, step, total, f"Flushing the RBD locks of volume {volume}")
        broken += rbd_locks.flush(storage, [volume])
    progress.update(task, total, total, "Flushed the RBD locks")
    if not broken:
        return progress.finish(task, f'No RBD locks were held on the volumes of VM '
                                     f'"{rec.name}" ({", ".join(volumes)}).')
    held = ", ".join(f"{lock['volume']} ({lock.get('locker')})" for lock in broken)
    return progress.finish(task, f'Flushed {len(broken)} RBD lock(s) of VM "{rec.name}": '
                                 f"{held}.")
