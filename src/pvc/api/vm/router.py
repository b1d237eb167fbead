"""VM endpoints: list, define, information, modify (XML), undefine/remove, rename.

State and placement changes, metadata, tags and the console are in `vm_control`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from pvc.api import schemas
from pvc.api.deps import ConfigDep, OptionalStorageDep, StoppingDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.vm import listing
from pvc.api.vm import schemas as vm_schemas
from pvc.api.vm import views as vm_views
from pvc.common import vmxml
from pvc.common.config import Config
from pvc.common.errors import InvalidArgument, NotFound
from pvc.ops.storage import vm_volumes
from pvc.ops.vm import define as vm_define
from pvc.ops.vm import records as vm_records
from pvc.state.store import Store

router = APIRouter(prefix="/vm", tags=["vm"])

VmName = Annotated[str, Path(description="The VM's name or UUID")]
_READ_ERRORS = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
_WRITE_ERRORS = _READ_ERRORS

Xml = Annotated[str, Query(description="The libvirt domain XML (usually in a form body)")]
TargetNode = Annotated[
    str | None, Query(description="The node to define the VM on (default: the selector's choice)")
]
Limit = Annotated[
    str | None, Query(description="Comma-separated nodes the VM may run on (empty: any)")
]
Selector = Annotated[
    str | None,
    Query(description="mem, memprov, vcpus, load, vms, or none (the cluster default)"),
]
Autostart = Annotated[
    bool, Query(description="Start the VM when its node is next readied after a flush")
]
MigrationMethod = Annotated[
    str | None, Query(description="live, shutdown, or none (live, falling back to shutdown)")
]
MaxDowntime = Annotated[
    int | None, Query(description="The maximum downtime of a live migration, in ms")
]
UserTags = Annotated[list[str] | None, Query(description="Tags to add (repeat for several)")]
ProtectedTags = Annotated[
    list[str] | None, Query(description="Protected tags to add (repeat for several)")
]


@router.get("", response_model=list[vm_schemas.Vm], responses=_READ_ERRORS)
def list_vms(
    request: Request,
    store: StoreDep,
    limit: Annotated[
        str | None,
        Query(description="A name or UUID regex; matches anywhere unless anchored with ^ or $"),
    ] = None,
    node: Annotated[str | None, Query(description="Only VMs on this node")] = None,
    state: Annotated[str | None, Query(description="Only VMs in this state")] = None,
    tag: Annotated[str | None, Query(description="Only VMs with this tag")] = None,
    negate: Annotated[
        bool, Query(description="Invert the node, state and tag filters")
    ] = False,
) -> Response:
    """The VMs of the cluster, optionally filtered (404 when none match, as in PVC)."""
    vm_records.check_filters(node, state)
    entries = listing.cache_of(request).all(store)
    rendered = {rec.uuid: item for rec, item in entries}
    found = vm_records.select((rec for rec, _ in entries), limit, node, state, tag, negate)
    if not found:
        raise NotFound("VM not found.")
    return listing.answer([rendered[rec.uuid] for rec in found])


def _define(
    store: Store,
    config: Config,
    xml: str,
    node: str | None,
    limit: str | None,
    selector: str | None,
    autostart: bool,
    migration_method: str | None,
    migration_max_downtime: int | None,
    user_tags: list[str] | None,
    protected_tags: list[str] | None,
) -> schemas.Message:
    message = vm_define.define(
        store,
        config,
        xml,
        node=node or None,
        limit=limit,
        selector=selector or None,
        autostart=autostart,
        migration_method=migration_method or None,
        migration_max_downtime=migration_max_downtime,
        user_tags=user_tags or (),
        protected_tags=protected_tags or (),
    )
    return schemas.Message(message=message)


@router.post("", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def define_vm(
    store: StoreDep,
    config: ConfigDep,
    xml: Xml,
    node: TargetNode = None,
    limit: Limit = None,
    selector: Selector = None,
    autostart: Autostart = False,
    migration_method: MigrationMethod = None,
    migration_max_downtime: MaxDowntime = None,
    user_tags: UserTags = None,
    protected_tags: ProtectedTags = None,
) -> schemas.Message:
    """Define a new VM from libvirt XML (stopped, on the chosen node)."""
    return _define(store, config, xml, node, limit, selector, autostart, migration_method,
                   migration_max_downtime, user_tags, protected_tags)


@router.get("/{vm}", response_model=list[vm_schemas.Vm], responses=_READ_ERRORS)
def vm_info(store: StoreDep, vm: VmName) -> JSONResponse:
    """One VM, as a one-element list (as PVC answers)."""
    return JSONResponse([vm_views.vm(vm_records.get_vm(store, vm))])


@router.post("/{vm}", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def define_named_vm(
    store: StoreDep,
    config: ConfigDep,
    vm: VmName,
    xml: Xml,
    node: TargetNode = None,
    limit: Limit = None,
    selector: Selector = None,
    autostart: Autostart = False,
    migration_method: MigrationMethod = None,
    migration_max_downtime: MaxDowntime = None,
    user_tags: UserTags = None,
    protected_tags: ProtectedTags = None,
) -> schemas.Message:
    """Define a new VM named {vm}: the XML's <name> must be {vm}."""
    spec = vmxml.parse(xml)
    if spec.name != vm:
        raise InvalidArgument(f'The XML names the VM "{spec.name}", not "{vm}" as the path does')
    return _define(store, config, xml, node, limit, selector, autostart, migration_method,
                   migration_max_downtime, user_tags, protected_tags)


@router.put("/{vm}", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def modify_vm(
    store: StoreDep,
    config: ConfigDep,
    vm: VmName,
    xml: Xml,
    restart: Annotated[
        bool, Query(description="Restart the VM (if it runs) to apply the new XML")
    ] = False,
) -> schemas.Message:
    """Replace the VM's XML (same UUID; another <name> renames it)."""
    return schemas.Message(message=vm_define.modify(store, config, vm, xml, restart))


@router.delete("/{vm}", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def delete_vm(
    store: StoreDep,
    stopping: StoppingDep,
    storage: OptionalStorageDep,
    vm: VmName,
    delete_disks: Annotated[
        bool, Query(description="Also delete the VM's volumes (remove, not undefine)")
    ] = False,
) -> schemas.Message:
    """Undefine the VM (its record goes, its disks stay), or remove it with its disks
    (stopping it first)."""
    if delete_disks and storage is not None:
        return schemas.Message(message=vm_volumes.remove_with_disks(
            store, storage, vm, cancelled=stopping))
    return schemas.Message(message=vm_define.remove(store, vm, delete_disks))


@router.post("/{vm}/rename", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def rename_vm(
    store: StoreDep,
    storage: OptionalStorageDep,
    vm: VmName,
    new_name: Annotated[str, Query(description="The VM's new name")],
) -> schemas.Message:
    """Rename a stopped VM, and the RBD volumes named after it (`<vm>_*`)."""
    if storage is not None:
        return schemas.Message(message=vm_volumes.rename_with_disks(store, storage, vm, new_name))
    return schemas.Message(message=vm_define.rename(store, vm, new_name))
