"""Ceph endpoints: status and utilisation, cluster options, OSDs and pools.

Volumes and snapshots are in `volumes`. Single objects are answered as a list of
one, as PVC does; an empty list is a 404, as PVC does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from pvc.api import schemas
from pvc.api.deps import StorageDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.tasks.router import TASK_ACCEPTED, TasksDep, task_accepted
from pvc.common import names
from pvc.common.errors import NotFound
from pvc.ops.storage import cluster as storage_cluster
from pvc.ops.storage import osds, records
from pvc.ops.storage import pools as storage_pools
from pvc.tasks import catalogue

router = APIRouter(prefix="/storage/ceph", tags=["storage / ceph"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
Limit = Annotated[str | None, Query(description="A name regex; matches anywhere unless "
                                                "anchored with ^ or $")]
PoolName = Annotated[str, Path(description="The pool's name")]
OsdId = Annotated[str, Path(description="The OSD's id")]
Json = dict[str, Any]


def nonempty(items: list[Json], what: str) -> list[Json]:
    """A listing; none at all is a 404, as PVC answers."""
    if not items:
        raise NotFound(f"{what} not found.")
    return items


@router.get("/status", responses=_READ)
def ceph_status(store: StoreDep) -> Json:
    """The text of `ceph status`, as the primary last published it."""
    return storage_cluster.status(store, "status")


@router.get("/utilization", responses=_READ)
def ceph_utilization(store: StoreDep) -> Json:
    """The text of `ceph df`, as the primary last published it."""
    return storage_cluster.status(store, "util")


@router.post("/option", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def ceph_option(
    storage: StorageDep,
    option: Annotated[str, Query(description="An OSD flag, e.g. noout")],
    action: Annotated[str, Query(description="set or unset")],
) -> Json:
    """Set or unset a cluster-wide OSD flag."""
    return {"message": storage_cluster.set_option(storage, option, action)}


# -- OSDs ----------------------------------------------------------------------

@router.get("/osd", responses=_READ)
def osd_list(store: StoreDep, limit: Limit = None) -> list[Json]:
    """The OSDs with their figures (published by the primary)."""
    return nonempty(records.list_osds(store, limit), "OSD")


@router.get("/osd/{osdid}", responses=_READ)
def osd_info(store: StoreDep, osdid: OsdId) -> list[Json]:
    return [records.get_osd(store, names.osd_id(osdid))]


@router.get("/osd/{osdid}/state", responses=_READ)
def osd_state(store: StoreDep, osdid: OsdId) -> Json:
    return storage_cluster.osd_state_of(store, osdid)


@router.post("/osd/{osdid}/state", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def osd_set_state(
    store: StoreDep, storage: StorageDep, osdid: OsdId,
    state: Annotated[str, Query(description="in or out")],
) -> Json:
    """Mark an OSD in or out."""
    return {"message": storage_cluster.osd_state(store, storage, osdid, state)}


@router.post("/osd", status_code=202, responses={**TASK_ACCEPTED, **_READ})
@refusals_as_400
def osd_add(
    store: StoreDep, tasks: TasksDep,
    node: Annotated[str, Query(description="The node that has the device")],
    device: Annotated[str, Query(description="The device's path, e.g. /dev/sdb; all data "
                                             "on it is destroyed")],
    weight: Annotated[float, Query(description="The CRUSH weight, usually the size in TiB")],
    ext_db_ratio: Annotated[float | None, Query(description="External DB size as a fraction "
                                                            "of the OSD (not supported)")] = None,
    ext_db_size: Annotated[str | None, Query(description="External DB size, e.g. 20G "
                                                         "(not supported)")] = None,
    osd_count: Annotated[int | None, Query(description="OSDs to split the device into "
                                                       "(only 1 is supported)")] = None,
) -> JSONResponse:
    """Create an OSD on a device of a node (a task on that node's worker)."""
    node, device, weight = osds.check_add_request(store, node, device, weight,
                                                       ext_db_ratio, ext_db_size, osd_count)
    return task_accepted(tasks.submit(catalogue.OSD_ADD, [node, device, weight], run_on=node))


@router.delete("/osd/{osdid}", status_code=202, responses={**TASK_ACCEPTED, **_READ})
@refusals_as_400
def osd_remove(
    store: StoreDep, tasks: TasksDep, osdid: OsdId,
    force: Annotated[bool, Query(description="Do not wait until the OSD is safe to destroy; "
                                             "go on if its device is gone")] = False,
    confirm: Annotated[str | None, Query(
        alias="yes-i-really-mean-it",
        description="Must be yes: the OSD and its data are destroyed")] = None,
) -> JSONResponse:
    """Remove an OSD and destroy its data (a task on the OSD's node)."""
    osd, node = osds.check_remove_request(store, osdid, confirm)
    return task_accepted(tasks.submit(catalogue.OSD_REMOVE, [osd], {"force": force},
                                      run_on=node))


# -- pools ---------------------------------------------------------------------

@router.get("/pool", responses=_READ)
def pool_list(store: StoreDep, limit: Limit = None) -> list[Json]:
    return nonempty(records.list_pools(store, limit), "Pool")


@router.post("/pool", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def pool_add(
    store: StoreDep, storage: StorageDep,
    pool: Annotated[str, Query(description="The new pool's name")],
    pgs: Annotated[int, Query(description="Placement groups: a power of two")],
    replcfg: Annotated[str, Query(description="copies=N,mincopies=M")] = "copies=3,mincopies=2",
    tier: Annotated[str | None, Query(description="default, hdd, ssd or nvme")] = None,
) -> Json:
    """Create a replicated RBD pool."""
    return {"message": storage_pools.add(store, storage, pool, pgs, replcfg, tier)}


@router.get("/pool/{pool}", responses=_READ)
def pool_info(store: StoreDep, pool: PoolName) -> list[Json]:
    return [records.get_pool(store, names.storage_name(pool, "pool name"))]


@router.post("/pool/{pool}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def pool_add_named(
    store: StoreDep, storage: StorageDep, pool: PoolName,
    pgs: Annotated[int, Query(description="Placement groups: a power of two")],
    replcfg: Annotated[str, Query(description="copies=N,mincopies=M")] = "copies=3,mincopies=2",
    tier: Annotated[str | None, Query(description="default, hdd, ssd or nvme")] = None,
) -> Json:
    """Create a replicated RBD pool (name in the path)."""
    return {"message": storage_pools.add(store, storage, pool, pgs, replcfg, tier)}


@router.put("/pool/{pool}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def pool_set_pgs(
    store: StoreDep, storage: StorageDep, pool: PoolName,
    pgs: Annotated[int, Query(description="Placement groups: a power of two")],
) -> Json:
    """Change a pool's PG count."""
    return {"message": storage_pools.set_pgs(store, storage,
                                             names.storage_name(pool, "pool name"), pgs)}


@router.delete("/pool/{pool}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def pool_remove(
    store: StoreDep, storage: StorageDep, pool: PoolName,
    confirm: Annotated[str | None, Query(
        alias="yes-i-really-mean-it",
        description="Must be yes: the pool and all its volumes are deleted")] = None,
) -> Json:
    """Remove a pool and every volume in it."""
    return {"message": storage_pools.remove(store, storage,
                                            names.storage_name(pool, "pool name"), confirm)}
