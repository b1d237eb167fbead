"""OVA images (`/provisioner/ova`): an OVA archive uploaded as the multipart field `file`
(streamed: read and written to its volumes as it arrives, PVC's `ova_size` its size in
bytes); single OVAs answered as a list of one, an empty listing as 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from pvc.api import schemas
from pvc.api.deps import DatabaseDep, StorageDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.multipart import FILE_BODY_OPENAPI, file_field, request_chunks
from pvc.common.errors import NotFound

router = APIRouter(tags=["provisioner / ova"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
Json = dict[str, Any]
OvaName = Annotated[str, Path(description="The OVA's name")]
Pool = Annotated[str, Query(description="The pool for the OVA's disk volumes")]
OvaSize = Annotated[int, Query(description="The archive's size in bytes")]


def _ops() -> Any:
    """The OVA operations, loaded on first use (with SQLAlchemy)."""
    from pvc.ops.provisioner import ova

    return ova


@router.get("/provisioner/ova", responses=_READ)
def ova_list(db: DatabaseDep,
             limit: Annotated[str | None, Query(description="A regex on the name")] = None
             ) -> list[Json]:
    """The imported OVAs with their volumes."""
    found: list[Json] = _ops().list_ovas(db, limit)
    if not found:
        raise NotFound("No OVAs found.")
    return found


def _upload(request: Request, db: DatabaseDep, store: StoreDep, storage: StorageDep,
            pool: str, name: str, ova_size: int) -> Json:
    data = file_field(request.headers.get("content-type", ""), request_chunks(request))
    return {"message": _ops().upload(db, store, storage, pool, name, ova_size, data)}


@router.post("/provisioner/ova", response_model=schemas.Message, responses=_READ,
             openapi_extra=FILE_BODY_OPENAPI)
@refusals_as_400
def ova_upload(request: Request, db: DatabaseDep, store: StoreDep, storage: StorageDep,
               pool: Pool, name: Annotated[str, Query(description="The OVA's name")],
               ova_size: OvaSize) -> Json:
    """Import an OVA archive: its disk images into volumes `ova_<name>_<disk>`, its OVF
    kept, and a system template and an `ova` profile named after it."""
    return _upload(request, db, store, storage, pool, name, ova_size)


@router.get("/provisioner/ova/{ova}", responses=_READ)
def ova_get(db: DatabaseDep, ova: OvaName) -> list[Json]:
    return [_ops().get(db, ova)]


@router.post("/provisioner/ova/{ova}", response_model=schemas.Message, responses=_READ,
             openapi_extra=FILE_BODY_OPENAPI)
@refusals_as_400
def ova_upload_named(request: Request, db: DatabaseDep, store: StoreDep,
                     storage: StorageDep, ova: OvaName, pool: Pool,
                     ova_size: OvaSize) -> Json:
    """Import an OVA archive under the name in the path."""
    return _upload(request, db, store, storage, pool, ova, ova_size)


@router.delete("/provisioner/ova/{ova}", response_model=schemas.Message, responses=_READ)
def ova_remove(db: DatabaseDep, store: StoreDep, storage: StorageDep, ova: OvaName) -> Json:
    """Remove the OVA, its volumes, and its system template and profile."""
    return {"message": _ops().remove(db, store, storage, ova)}
