"""Cluster fault endpoints: list, show, acknowledge and delete (one or all)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from pvc.api import schemas
from pvc.api.deps import StoreDep
from pvc.ops.cluster import faults as fault_ops

router = APIRouter(prefix="/faults", tags=["faults"])

SortKey = Literal["first_reported", "last_reported", "acknowledged_at", "status",
                  "health_delta", "message"]
FaultId = Annotated[str, Path(description="The fault's ID, e.g. DEAD_NODE_hv2")]
_READ_ERRORS = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST}
_ONE_ERRORS = {**_READ_ERRORS, **schemas.NOT_FOUND}


class Fault(BaseModel):
    id: str = Field(description="<TYPE>_<ENTRY>, e.g. DEAD_NODE_hv2")
    status: str = Field(description='"new" or "ack"')
    health_delta: int = Field(description="Health percentage the fault takes off the cluster")
    first_reported: str = Field(description="UTC time it was first raised")
    last_reported: str = Field(description="UTC time it was last raised")
    acknowledged_at: str = Field(description='UTC time it was acknowledged, "" if not')
    message: str


def _wire(fault: fault_ops.Fault) -> Fault:
    return Fault(**fault.wire())


@router.get("", response_model=list[Fault], responses=_READ_ERRORS)
def list_faults(
    store: StoreDep,
    sort_key: Annotated[SortKey, Query(description="The field to sort by")] = "last_reported",
) -> list[Fault]:
    """Every cluster fault (an empty list when there is none)."""
    return [_wire(f) for f in fault_ops.list_faults(store, sort_key)]


@router.put("", response_model=schemas.Message, responses=_READ_ERRORS)
def acknowledge_all(store: StoreDep) -> schemas.Message:
    """Acknowledge every cluster fault."""
    return schemas.Message(message=fault_ops.acknowledge_all(store))


@router.delete("", response_model=schemas.Message, responses=_READ_ERRORS)
def delete_all(store: StoreDep) -> schemas.Message:
    """Delete every cluster fault."""
    return schemas.Message(message=fault_ops.delete_all(store))


@router.get("/{fault_id}", response_model=list[Fault], responses=_ONE_ERRORS)
def get_fault(store: StoreDep, fault_id: FaultId) -> list[Fault]:
    """One fault, as a one-element list (as PVC answers)."""
    return [_wire(fault_ops.get_fault(store, fault_id))]


@router.put("/{fault_id}", response_model=schemas.Message, responses=_ONE_ERRORS)
def acknowledge(store: StoreDep, fault_id: FaultId) -> schemas.Message:
    """Acknowledge one fault: it no longer lowers the cluster health."""
    return schemas.Message(message=fault_ops.acknowledge(store, fault_id))


@router.delete("/{fault_id}", response_model=schemas.Message, responses=_ONE_ERRORS)
def delete(store: StoreDep, fault_id: FaultId) -> schemas.Message:
    """Delete one fault."""
    return schemas.Message(message=fault_ops.delete(store, fault_id))
