"""RBD volume and snapshot endpoints (PVC v1 paths under /storage/ceph)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from pvc.api import schemas
from pvc.api.deps import ConfigDep, StorageDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.multipart import FILE_BODY_OPENAPI, file_field, request_chunks
from pvc.api.storage.router import nonempty
from pvc.common import names
from pvc.common.errors import InvalidArgument
from pvc.ops.storage import records, snapshots, upload, volumes

router = APIRouter(prefix="/storage/ceph", tags=["storage / ceph"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
Limit = Annotated[str | None, Query(description="A name regex; matches anywhere unless "
                                                "anchored with ^ or $")]
PoolName = Annotated[str, Path(description="The pool's name")]
VolumeName = Annotated[str, Path(description="The volume's name")]
SnapshotName = Annotated[str, Path(description="The snapshot's name")]
Force = Annotated[bool, Query(description="Ignore the safe-utilisation limit of the pool")]
Json = dict[str, Any]


def _pv(pool: str, volume: str) -> tuple[str, str]:
    return names.storage_name(pool, "pool name"), names.storage_name(volume, "volume name")


# -- volumes -------------------------------------------------------------------

@router.get("/volume", responses=_READ)
def volume_list(
    store: StoreDep, limit: Limit = None,
    pool: Annotated[str | None, Query(description="Only volumes of this pool")] = None,
) -> list[Json]:
    if pool:
        names.storage_name(pool, "pool name")
    return nonempty(records.list_volumes(store, limit, pool), "Volume")


@router.post("/volume", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def volume_add(
    store: StoreDep, storage: StorageDep, config: ConfigDep,
    volume: Annotated[str, Query(description="The new volume's name")],
    pool: Annotated[str, Query(description="The pool to create it in")],
    size: Annotated[str, Query(description="The size with a unit, e.g. 10G")],
    force: Force = False,
) -> Json:
    """Create an RBD volume."""
    pool, volume = _pv(pool, volume)
    return {"message": volumes.add(store, storage, pool, volume, size, force,
                                   config.ceph_safe_utilization)}


@router.get("/volume/{pool}/{volume}", responses=_READ)
def volume_info(store: StoreDep, pool: PoolName, volume: VolumeName) -> list[Json]:
    return [records.get_volume(store, *_pv(pool, volume))]


@router.post("/volume/{pool}/{volume}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def volume_add_named(
    store: StoreDep, storage: StorageDep, config: ConfigDep, pool: PoolName,
    volume: VolumeName,
    size: Annotated[str, Query(description="The size with a unit, e.g. 10G")],
    force: Force = False,
) -> Json:
    """Create an RBD volume (names in the path)."""
    pool, volume = _pv(pool, volume)
    return {"message": volumes.add(store, storage, pool, volume, size, force,
                                   config.ceph_safe_utilization)}


@router.put("/volume/{pool}/{volume}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def volume_modify(
    store: StoreDep, storage: StorageDep, config: ConfigDep, pool: PoolName,
    volume: VolumeName,
    new_size: Annotated[str | None, Query(description="Grow to this size")] = None,
    new_name: Annotated[str | None, Query(description="Rename to this")] = None,
    force: Force = False,
) -> Json:
    """Grow and/or rename a volume."""
    pool, volume = _pv(pool, volume)
    if not new_size and not new_name:
        raise InvalidArgument("Give new_size and/or new_name")
    messages = []
    if new_size:
        messages.append(volumes.resize(store, storage, pool, volume, new_size, force,
                                       config.ceph_safe_utilization))
    if new_name:
        messages.append(volumes.rename(store, storage, pool, volume, new_name))
    return {"message": " ".join(messages)}


@router.delete("/volume/{pool}/{volume}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def volume_remove(store: StoreDep, storage: StorageDep, pool: PoolName,
                  volume: VolumeName) -> Json:
    return {"message": volumes.remove(store, storage, *_pv(pool, volume))}


@router.post("/volume/{pool}/{volume}/clone", response_model=schemas.Message,
             responses=_READ)
@refusals_as_400
def volume_clone(
    store: StoreDep, storage: StorageDep, config: ConfigDep, pool: PoolName,
    volume: VolumeName,
    new_volume: Annotated[str, Query(description="The copy's name")],
    force: Force = False,
    force_flag: Annotated[bool | None, Query(
        description="What PVC's own client sends for --force")] = None,
) -> Json:
    """Copy a volume into a new, independent one in the same pool."""
    pool, volume = _pv(pool, volume)
    return {"message": volumes.clone(store, storage, pool, volume, new_volume,
                                     force or bool(force_flag),
                                     config.ceph_safe_utilization)}


@router.post("/volume/{pool}/{volume}/scan", response_model=schemas.Message,
             responses=_READ)
@refusals_as_400
def volume_scan(store: StoreDep, storage: StorageDep, pool: PoolName,
                volume: VolumeName) -> Json:
    """Adopt (or refresh) a volume that was made outside PVC."""
    return {"message": volumes.scan(store, storage, *_pv(pool, volume))}


@router.post("/volume/{pool}/{volume}/upload", response_model=schemas.Message,
             responses=_READ, openapi_extra=FILE_BODY_OPENAPI)
@refusals_as_400
def volume_upload(
    request: Request, store: StoreDep, storage: StorageDep, config: ConfigDep,
    pool: PoolName, volume: VolumeName,
    image_format: Annotated[str, Query(description="The image's format: " + ", ".join(
        upload.IMAGE_FORMATS) + "; all but raw are converted with qemu-img")],
    file_size: Annotated[int | None, Query(
        description="The image file's size in bytes; required unless raw")] = None,
) -> Json:
    """Write a disk image (multipart field `file`) into an existing volume."""
    pool, volume = _pv(pool, volume)
    size = upload.prepare(store, storage, pool, volume, image_format, file_size)
    data = file_field(request.headers.get("content-type", ""), request_chunks(request))
    return {"message": upload.upload(store, storage, upload.ceph_files(config), pool, volume,
                                     image_format, file_size, data,
                                     upload.upload_directory(config), size=size)}


@router.get("/client", responses=schemas.AUTH_ERRORS)
def rbd_client(config: ConfigDep) -> Json:
    """How VM disks reach Ceph: the monitors (the coordinators' storage addresses) and the
    libvirt secret of the Ceph user (an extension of PVC's API, read by `vm volume add`)."""
    storage_net = config.networks["storage"]
    monitors = [{"host": str(storage_net.node_address(node).ip),
                 "port": config.ceph_monitor_port} for node in config.coordinator_nodes]
    secret = config.ceph_secret_uuid
    return {"monitors": monitors, "auth_username": upload.ceph_files(config).client
            if secret else "", "secret_uuid": secret}


# -- snapshots -----------------------------------------------------------------

@router.get("/snapshot", responses=_READ)
def snapshot_list(
    store: StoreDep, limit: Limit = None,
    pool: Annotated[str | None, Query(description="Only this pool's snapshots")] = None,
    volume: Annotated[str | None, Query(description="Only this volume's snapshots")] = None,
) -> list[Json]:
    if pool:
        names.storage_name(pool, "pool name")
    if volume:
        names.storage_name(volume, "volume name")
    return nonempty(records.list_snapshots(store, limit, pool, volume), "Snapshot")


@router.post("/snapshot", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def snapshot_add(
    store: StoreDep, storage: StorageDep,
    snapshot: Annotated[str, Query(description="The new snapshot's name")],
    volume: Annotated[str, Query(description="The volume")],
    pool: Annotated[str, Query(description="The volume's pool")],
) -> Json:
    pool, volume = _pv(pool, volume)
    return {"message": snapshots.add(store, storage, pool, volume, snapshot)}


def _pvs(pool: str, volume: str, snapshot: str) -> tuple[str, str, str]:
    return (*_pv(pool, volume), names.storage_name(snapshot, "snapshot name"))


@router.get("/snapshot/{pool}/{volume}/{snapshot}", responses=_READ)
def snapshot_info(store: StoreDep, pool: PoolName, volume: VolumeName,
                  snapshot: SnapshotName) -> list[Json]:
    return [records.get_snapshot(store, *_pvs(pool, volume, snapshot))]


@router.post("/snapshot/{pool}/{volume}/{snapshot}", response_model=schemas.Message,
             responses=_READ)
@refusals_as_400
def snapshot_add_named(store: StoreDep, storage: StorageDep, pool: PoolName,
                       volume: VolumeName, snapshot: SnapshotName) -> Json:
    return {"message": snapshots.add(store, storage, *_pvs(pool, volume, snapshot))}


@router.put("/snapshot/{pool}/{volume}/{snapshot}", response_model=schemas.Message,
            responses=_READ)
@refusals_as_400
def snapshot_rename(
    store: StoreDep, storage: StorageDep, pool: PoolName, volume: VolumeName,
    snapshot: SnapshotName,
    new_name: Annotated[str | None, Query(description="The new name")] = None,
) -> Json:
    if not new_name:
        raise InvalidArgument("Missing required parameter 'new_name'")
    return {"message": snapshots.rename(store, storage, *_pvs(pool, volume, snapshot),
                                        new_name)}


@router.delete("/snapshot/{pool}/{volume}/{snapshot}", response_model=schemas.Message,
               responses=_READ)
@refusals_as_400
def snapshot_remove(store: StoreDep, storage: StorageDep, pool: PoolName,
                    volume: VolumeName, snapshot: SnapshotName) -> Json:
    return {"message": snapshots.remove(store, storage, *_pvs(pool, volume, snapshot))}


@router.post("/snapshot/{pool}/{volume}/{snapshot}/rollback",
             response_model=schemas.Message, responses=_READ)
@refusals_as_400
def snapshot_rollback(store: StoreDep, storage: StorageDep, pool: PoolName,
                      volume: VolumeName, snapshot: SnapshotName) -> Json:
    """Return the volume to the snapshot's content (stop VMs using it first)."""
    return {"message": snapshots.rollback(store, storage, *_pvs(pool, volume, snapshot))}
