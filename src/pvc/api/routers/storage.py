"""Ceph endpoints: status and utilisation, cluster options, OSDs and pools.

Volumes and snapshots are in `storage_volume`. Single objects are answered as a list of
one, as PVC does; an empty list is a 404, as PVC does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from pvc.api import schemas
from pvc.api.deps import StorageDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.common import names
from pvc.common.errors import NotFound
from pvc.ops import storage_cluster, storage_pools
from pvc.ops import storage_records as records

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
