"""The catalogue of PVC's tasks: their names, and the modules that hold their bodies.

Names are PVC's (clients show them and `--wait` needs them). A body is registered with
`@registry.register(NAME)` in a module listed in `MODULES`; the worker imports every module
of `MODULES` at start-up. To add a task: write its body in its own module (e.g.
`pvc.tasks.vm.locks`), register it under a name below, and add the module to `MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from pvc.common.errors import InvalidArgument
from pvc.tasks import registry

# Storage (routed to the OSD's node).
OSD_ADD = "osd.add"
OSD_REPLACE = "osd.replace"
OSD_REFRESH = "osd.refresh"
OSD_REMOVE = "osd.remove"
OSD_ADD_DB_VG = "osd.add_db_vg"
STORAGE_BENCHMARK = "storage.benchmark"  # the primary
# VMs (routed to the VM's node, snapshots and mirrors to the primary).
VM_FLUSH_LOCKS = "vm.flush_locks"
VM_DEVICE_ATTACH = "vm.device_attach"
VM_DEVICE_DETACH = "vm.device_detach"
VM_CREATE_SNAPSHOT = "vm.create_snapshot"
VM_REMOVE_SNAPSHOT = "vm.remove_snapshot"
VM_ROLLBACK_SNAPSHOT = "vm.rollback_snapshot"
VM_EXPORT_SNAPSHOT = "vm.export_snapshot"
VM_IMPORT_SNAPSHOT = "vm.import_snapshot"
VM_SEND_SNAPSHOT = "vm.send_snapshot"
VM_CREATE_MIRROR = "vm.create_mirror"
VM_PROMOTE_MIRROR = "vm.promote_mirror"
# Cluster-wide jobs and the provisioner (the primary).
CLUSTER_AUTOBACKUP = "cluster.autobackup"
CLUSTER_AUTOMIRROR = "cluster.automirror"
PROVISIONER_CREATE = "provisioner.create"

NAMES: frozenset[str] = frozenset(
    {
        OSD_ADD, OSD_REPLACE, OSD_REFRESH, OSD_REMOVE, OSD_ADD_DB_VG, STORAGE_BENCHMARK,
        VM_FLUSH_LOCKS, VM_DEVICE_ATTACH, VM_DEVICE_DETACH, VM_CREATE_SNAPSHOT,
        VM_REMOVE_SNAPSHOT, VM_ROLLBACK_SNAPSHOT, VM_EXPORT_SNAPSHOT, VM_IMPORT_SNAPSHOT,
        VM_SEND_SNAPSHOT, VM_CREATE_MIRROR, VM_PROMOTE_MIRROR, CLUSTER_AUTOBACKUP,
        CLUSTER_AUTOMIRROR, PROVISIONER_CREATE,
    }
)

# Modules of task bodies, imported by every worker. Add yours here.
MODULES: tuple[str, ...] = (
    "pvc.tasks.vm.locks",  # vm.flush_locks
    "pvc.tasks.vm.devices",  # vm.device_attach, vm.device_detach
    "pvc.tasks.storage.benchmark",  # storage.benchmark
    "pvc.tasks.storage.osd.add",  # osd.add
    "pvc.tasks.storage.osd.remove",  # osd.remove
    "pvc.tasks.provisioner.create",  # provisioner.create
)


def known(name: str) -> bool:
    """Whether a worker can run a task of this name (catalogued or registered here)."""
    return name in NAMES or name in registry.registered()


def load(extra: Iterable[str] = ()) -> list[str]:
    """Import the modules of task bodies (`MODULES`, then `extra`); the names registered."""
    for module in (*MODULES, *extra):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise InvalidArgument(f"Cannot import the task module {module}: {exc}") from exc
    return sorted(registry.registered())
