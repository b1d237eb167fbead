"""VM state and placement (with `wait`), metadata, tags and the serial console."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pvc.api import schemas
from pvc.api.deps import ConfigDep, StoppingDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.vm import schemas as vm_schemas
from pvc.api.vm import views as vm_views
from pvc.api.vm.router import Limit, MaxDowntime, MigrationMethod, Selector, VmName
from pvc.common.config import Config
from pvc.ops import waiting
from pvc.ops.vm import actions as vm_actions
from pvc.ops.vm import meta as vm_meta
from pvc.ops.vm import records as vm_records
from pvc.state.store import Store

router = APIRouter(prefix="/vm", tags=["vm"])

_READ_ERRORS = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
_WRITE_ERRORS = _READ_ERRORS

# How long `wait=true` waits for the node daemons to carry a change out.
VM_WAIT = 120.0
# A shutdown may take the whole guest shutdown timeout before the node forces it off.
SHUTDOWN_MARGIN = 30.0

Wait = Annotated[
    bool, Query(description="Answer only once the change has happened (or failed)")
]

_DONE = {
    "start": 'Started VM "{name}" on node "{node}".',
    "restart": 'Restarted VM "{name}" on node "{node}".',
    "shutdown": 'Shut down VM "{name}".',
    "stop": 'Forcibly stopped VM "{name}".',
    "disable": 'Shut down VM "{name}" and marked it as disabled.',
    "migrate": 'Migrated VM "{name}" to node "{node}".',
    "unmigrate": 'Unmigrated VM "{name}" back to node "{node}".',
    "move": 'Permanently migrated VM "{name}" to node "{node}".',
}


def wait_timeout(config: Config, requested: str) -> float:
    if requested in ("shutdown", "restart", "disable"):
        return max(VM_WAIT, config.vm_shutdown_timeout + SHUTDOWN_MARGIN)
    return VM_WAIT


def _done(store: Store, uuid: str, requested: str) -> str:
    rec = vm_records.get_vm(store, uuid)
    return _DONE[requested].format(name=rec.name, node=rec.node)


@router.get("/{vm}/state", response_model=vm_schemas.VmState, responses=_READ_ERRORS)
def get_state(store: StoreDep, vm: VmName) -> vm_schemas.VmState:
    """The VM's state."""
    return vm_schemas.VmState(**vm_views.state(vm_records.get_vm(store, vm)))


@router.post("/{vm}/state", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def set_state(
    store: StoreDep,
    stopping: StoppingDep,
    config: ConfigDep,
    vm: VmName,
    state: Annotated[vm_schemas.VmStateAction, Query(description="The wanted state")],
    force: Annotated[
        bool, Query(description="disable: stop the VM at once instead of shutting it down")
    ] = False,
    wait: Wait = False,
) -> schemas.Message:
    """Start, restart, shut down, stop or disable the VM."""
    uuid = vm_records.resolve(store, vm)
    message = vm_actions.set_state(store, uuid, state, force)
    if not wait or "already" in message:
        return schemas.Message(message=message)
    waiting.wait_vm(store, uuid, state, wait_timeout(config, state), cancelled=stopping)
    return schemas.Message(message=_done(store, uuid, state))


@router.get("/{vm}/node", response_model=vm_schemas.VmNode, responses=_READ_ERRORS)
def get_node(store: StoreDep, vm: VmName) -> vm_schemas.VmNode:
    """The VM's node and, after a temporary migration, the node it came from."""
    return vm_schemas.VmNode(**vm_views.node(vm_records.get_vm(store, vm)))


@router.post("/{vm}/node", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def set_node(
    store: StoreDep,
    stopping: StoppingDep,
    config: ConfigDep,
    vm: VmName,
    action: Annotated[vm_schemas.VmNodeAction, Query(description="migrate, unmigrate or move")],
    node: Annotated[
        str | None, Query(description="The target node (default: the selector's choice)")
    ] = None,
    force: Annotated[
        bool, Query(description="migrate: migrate a VM that is already migrated")
    ] = False,
    wait: Wait = False,
    force_live: Annotated[
        bool, Query(description="Live migration only: no shutdown fallback")
    ] = False,
) -> schemas.Message:
    """Migrate (temporarily), unmigrate (back) or move (permanently) the VM."""
    before = vm_records.get_vm(store, vm)
    message = vm_actions.node_action(store, config, before.uuid, action, node or None, force,
                                     force_live)
    if not wait:
        return schemas.Message(message=message)
    uuid = before.uuid
    rec = vm_records.get_vm(store, uuid)
    if rec.node == before.node or rec.state not in ("migrate", "unmigrate", "start"):
        # made permanent where it is, or not running (only its node changed)
        return schemas.Message(message=message)
    waiting.wait_vm(store, uuid, action, wait_timeout(config, action), target=rec.node,
                    cancelled=stopping)
    return schemas.Message(message=_done(store, uuid, action))


@router.get("/{vm}/meta", response_model=vm_schemas.VmMeta, responses=_READ_ERRORS)
def get_meta(store: StoreDep, vm: VmName) -> vm_schemas.VmMeta:
    """The VM's placement and migration metadata."""
    return vm_schemas.VmMeta(**vm_views.meta(vm_records.get_vm(store, vm)))


@router.post("/{vm}/meta", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def set_meta(
    store: StoreDep,
    config: ConfigDep,
    vm: VmName,
    limit: Limit = None,
    selector: Selector = None,
    autostart: Annotated[
        bool | None,
        Query(description="Start the VM when its node is next readied after a flush"),
    ] = None,
    profile: Annotated[
        str | None, Query(description="The provisioner profile the VM was made from")
    ] = None,
    migration_method: MigrationMethod = None,
    migration_max_downtime: MaxDowntime = None,
) -> schemas.Message:
    """Change the VM's metadata; parameters left out keep their value."""
    return schemas.Message(
        message=vm_meta.set_meta(store, config, vm, limit, selector, autostart, profile,
                                 migration_method, migration_max_downtime)
    )


@router.get("/{vm}/tags", response_model=vm_schemas.VmTags, responses=_READ_ERRORS)
def get_tags(store: StoreDep, vm: VmName) -> vm_schemas.VmTags:
    """The VM's tags."""
    rec = vm_records.get_vm(store, vm)
    return vm_schemas.VmTags(
        name=rec.name, tags=[vm_schemas.VmTag(**vm_views.tag(t)) for t in rec.tags]
    )


@router.post("/{vm}/tags", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def set_tags(
    store: StoreDep,
    vm: VmName,
    action: Annotated[vm_schemas.TagAction, Query(description="add or remove")],
    tag: Annotated[str, Query(description="The tag")],
    protected: Annotated[
        bool, Query(description="add: a protected tag (kept by provisioner cleanups)")
    ] = False,
) -> schemas.Message:
    """Add a tag to the VM or remove one."""
    return schemas.Message(message=vm_meta.change_tag(store, vm, action, tag, protected))


@router.get("/{vm}/console", response_model=vm_schemas.VmLog, responses=_READ_ERRORS)
def console(
    store: StoreDep,
    vm: VmName,
    lines: Annotated[
        int, Query(ge=1, description="How many of the newest console lines to return")
    ] = 1000,
) -> vm_schemas.VmLog:
    """The newest lines of the VM's serial console log."""
    name, data = vm_meta.console_log(store, vm, lines)
    return vm_schemas.VmLog(name=name, data=data)
