"""Network and storage templates (`/provisioner/template/network`, `.../storage`), and all
templates at once (`/provisioner/template`), as PVC's clients send them: every parameter
in the query or the form, booleans as `True`/`False`, lists as repeated keys.

Single objects are answered as a list of one. A listing of templates that finds none is
a 404, as PVC answers; a template's networks or disks are answered as a list, empty when
it has none (404 only when the template does not exist). All templates at once is always
an object of three lists, each possibly empty.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from pvc.api import schemas
from pvc.api.deps import DatabaseDep
from pvc.api.errors import refusals_as_400
from pvc.common.errors import InvalidArgument, NotFound

router = APIRouter(tags=["provisioner / template"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
Json = dict[str, Any]
NETWORK = "/provisioner/template/network"
STORAGE = "/provisioner/template/storage"
Template = Annotated[str, Path(description="The template's name")]
Limit = Annotated[str | None, Query(description="A regex on the name")]
Name = Annotated[str | None, Query(description="The template's name")]
VniPath = Annotated[str, Path(description="The network's VNI")]
DiskPath = Annotated[str, Path(description="The disk's id, e.g. sda")]
PermitDuplicate = Annotated[bool | None, Query(
    description="Allow a VNI that the template already has (a second interface on it)")]
Pool = Annotated[str | None, Query(description="The pool of the disk's volume")]
SourceVolume = Annotated[str | None, Query(
    description="A volume of the pool to clone (instead of disk_size)")]
DiskSize = Annotated[int | None, Query(description="The size of a new volume, GB")]
Filesystem = Annotated[str | None, Query(
    description="ext2, ext3, ext4, xfs, btrfs, swap or vfat (none: left unformatted)")]
FilesystemArg = Annotated[list[str] | None, Query(
    description="An argument to mkfs (repeat for more)")]
Mountpoint = Annotated[str | None, Query(description="Where the VM mounts it")]


def _network() -> Any:
    """The network templates' operations, loaded on first use (with SQLAlchemy)."""
    from pvc.ops.provisioner import network_templates

    return network_templates


def _storage() -> Any:
    """The storage templates' operations, loaded on first use (with SQLAlchemy)."""
    from pvc.ops.provisioner import storage_templates

    return storage_templates


def _system() -> Any:
    from pvc.ops.provisioner import system_templates

    return system_templates


def _required(name: str, value: str | None) -> str:
    if not value:
        raise InvalidArgument(f"The parameter {name} is required")
    return value


@router.get("/provisioner/template", responses=_READ)
def template_list(db: DatabaseDep, limit: Limit = None) -> Json:
    """Every template, by kind and name: system, network and storage."""
    return {"system-templates": _system().list_templates(db, limit),
            "network-templates": _network().list_templates(db, limit),
            "storage-templates": _storage().list_templates(db, limit)}


# -- network templates ----------------------------------------------------------------

@router.get(NETWORK, responses=_READ)
def network_template_list(db: DatabaseDep, limit: Limit = None) -> list[Json]:
    """The network templates, by name, each with its networks in order."""
    found: list[Json] = _network().list_templates(db, limit)
    if not found:
        raise NotFound("No network templates found.")
    return found


def _network_add(db: DatabaseDep, name: str | None, mac_template: str | None) -> Json:
    name = _required("name", name)
    _network().add(db, name, mac_template)
    return {"message": f"Added new network template '{name}'."}


MacTemplate = Annotated[str | None, Query(
    description="MACs of the interfaces, e.g. {prefix}:{vmid}:{netid}:01")]


@router.post(NETWORK, response_model=schemas.Message, responses=_READ)
@refusals_as_400
def network_template_add(db: DatabaseDep, name: Name = None,
                         mac_template: MacTemplate = None) -> Json:
    """Create a network template, without networks."""
    return _network_add(db, name, mac_template)


@router.get(f"{NETWORK}/{{template}}", responses=_READ)
def network_template_info(db: DatabaseDep, template: Template) -> list[Json]:
    return [_network().get(db, template)]


@router.post(f"{NETWORK}/{{template}}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def network_template_add_at(db: DatabaseDep, template: Template,
                            mac_template: MacTemplate = None) -> Json:
    """Create a network template named in the path."""
    return _network_add(db, template, mac_template)


@router.delete(f"{NETWORK}/{{template}}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def network_template_remove(db: DatabaseDep, template: Template) -> Json:
    """Remove a network template and its networks (refused while a profile names it)."""
    _network().remove(db, template)
    return {"message": f"Removed network template '{template}'."}


@router.get(f"{NETWORK}/{{template}}/net", responses=_READ)
def network_template_net_list(db: DatabaseDep, template: Template) -> list[Json]:
    """The template's networks in order (the first is eth0); empty when it has none."""
    found: list[Json] = _network().list_nets(db, template)
    return found


def _net_add(db: DatabaseDep, template: str, vni: str | int | None,
             permit_duplicate: bool | None) -> Json:
    if vni is None or vni == "":
        raise InvalidArgument("The parameter vni is required")
    ops = _network()
    ops.add_net(db, template, vni, bool(permit_duplicate))
    return {"message": f"Added network {ops.check_vni(vni)} to network template "
                       f"'{template}'."}


@router.post(f"{NETWORK}/{{template}}/net", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def network_template_net_add(
    db: DatabaseDep, template: Template,
    vni: Annotated[int | None, Query(description="The network's VNI")] = None,
    permit_duplicate: PermitDuplicate = None,
) -> Json:
    """Append a network to the template (its next interface)."""
    return _net_add(db, template, vni, permit_duplicate)


@router.get(f"{NETWORK}/{{template}}/net/{{vni}}", responses=_READ)
def network_template_net_info(db: DatabaseDep, template: Template, vni: VniPath) -> list[Json]:
    return [_network().get_net(db, template, vni)]


@router.post(f"{NETWORK}/{{template}}/net/{{vni}}", response_model=schemas.Message,
             responses=_READ)
@refusals_as_400
def network_template_net_add_at(db: DatabaseDep, template: Template, vni: VniPath,
                                permit_duplicate: PermitDuplicate = None) -> Json:
    """Append the network of the path to the template."""
    return _net_add(db, template, vni, permit_duplicate)


@router.delete(f"{NETWORK}/{{template}}/net/{{vni}}", response_model=schemas.Message,
               responses=_READ)
@refusals_as_400
def network_template_net_remove(db: DatabaseDep, template: Template, vni: VniPath) -> Json:
    """Remove the template's (first) network with this VNI."""
    ops = _network()
    ops.remove_net(db, template, vni)
    return {"message": f"Removed network {ops.check_vni(vni)} from network template "
                       f"'{template}'."}


# -- storage templates ----------------------------------------------------------------

@router.get(STORAGE, responses=_READ)
def storage_template_list(db: DatabaseDep, limit: Limit = None) -> list[Json]:
    """The storage templates, by name, each with its disks."""
    found: list[Json] = _storage().list_templates(db, limit)
    if not found:
        raise NotFound("No storage templates found.")
    return found


def _storage_add(db: DatabaseDep, name: str | None) -> Json:
    name = _required("name", name)
    _storage().add(db, name)
    return {"message": f"Added new storage template '{name}'."}


@router.post(STORAGE, response_model=schemas.Message, responses=_READ)
@refusals_as_400
def storage_template_add(db: DatabaseDep, name: Name = None) -> Json:
    """Create a storage template, without disks."""
    return _storage_add(db, name)


@router.get(f"{STORAGE}/{{template}}", responses=_READ)
def storage_template_info(db: DatabaseDep, template: Template) -> list[Json]:
    return [_storage().get(db, template)]


@router.post(f"{STORAGE}/{{template}}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def storage_template_add_at(db: DatabaseDep, template: Template) -> Json:
    """Create a storage template named in the path."""
    return _storage_add(db, template)


@router.delete(f"{STORAGE}/{{template}}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def storage_template_remove(db: DatabaseDep, template: Template) -> Json:
    """Remove a storage template and its disks (refused while a profile names it)."""
    _storage().remove(db, template)
    return {"message": f"Removed storage template '{template}'."}


@router.get(f"{STORAGE}/{{template}}/disk", responses=_READ)
def storage_template_disk_list(db: DatabaseDep, template: Template) -> list[Json]:
    """The template's disks; empty when it has none."""
    found: list[Json] = _storage().list_disks(db, template)
    return found


def _disk_add(db: DatabaseDep, template: str, disk_id: str | None, pool: str | None,
              source_volume: str | None, disk_size: int | None, filesystem: str | None,
              filesystem_arg: list[str] | None, mountpoint: str | None) -> Json:
    disk_id = _required("disk_id", disk_id)
    ops = _storage()
    ops.add_disk(db, template, ops.Disk(
        disk_id=disk_id, pool=_required("pool", pool), disk_size_gb=disk_size,
        source_volume=source_volume, filesystem=filesystem,
        filesystem_args=tuple(filesystem_arg or ()), mountpoint=mountpoint))
    return {"message": f"Added disk {disk_id} to storage template '{template}'."}


@router.post(f"{STORAGE}/{{template}}/disk", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def storage_template_disk_add(
    db: DatabaseDep, template: Template,
    disk_id: Annotated[str | None, Query(description="The disk's id, e.g. sda")] = None,
    pool: Pool = None, source_volume: SourceVolume = None, disk_size: DiskSize = None,
    filesystem: Filesystem = None, filesystem_arg: FilesystemArg = None,
    mountpoint: Mountpoint = None,
) -> Json:
    """Add a disk: a new volume (disk_size) or a clone (source_volume) in the pool."""
    return _disk_add(db, template, disk_id, pool, source_volume, disk_size, filesystem,
                     filesystem_arg, mountpoint)


@router.get(f"{STORAGE}/{{template}}/disk/{{disk_id}}", responses=_READ)
def storage_template_disk_info(db: DatabaseDep, template: Template,
                               disk_id: DiskPath) -> list[Json]:
    return [_storage().get_disk(db, template, disk_id)]


@router.post(f"{STORAGE}/{{template}}/disk/{{disk_id}}", response_model=schemas.Message,
             responses=_READ)
@refusals_as_400
def storage_template_disk_add_at(
    db: DatabaseDep, template: Template, disk_id: DiskPath,
    pool: Pool = None, source_volume: SourceVolume = None, disk_size: DiskSize = None,
    filesystem: Filesystem = None, filesystem_arg: FilesystemArg = None,
    mountpoint: Mountpoint = None,
) -> Json:
    """Add the disk of the path."""
    return _disk_add(db, template, disk_id, pool, source_volume, disk_size, filesystem,
                     filesystem_arg, mountpoint)


@router.delete(f"{STORAGE}/{{template}}/disk/{{disk_id}}", response_model=schemas.Message,
               responses=_READ)
@refusals_as_400
def storage_template_disk_remove(db: DatabaseDep, template: Template,
                                 disk_id: DiskPath) -> Json:
    _storage().remove_disk(db, template, disk_id)
    return {"message": f"Removed disk {disk_id} from storage template '{template}'."}
