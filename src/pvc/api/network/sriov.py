"""SR-IOV endpoints: the physical functions (PFs) and virtual functions (VFs) a node has.

Nodes record no SR-IOV devices yet (the development cluster has no SR-IOV hardware), so
these answer what there is: a node's PFs and VFs are none, which PVC answers as 404.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Path, Query

from pvc.api import schemas
from pvc.api.deps import StoreDep
from pvc.common import names
from pvc.common.errors import NotFound
from pvc.state.store import Store

router = APIRouter(prefix="/sriov", tags=["network / sriov"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
Json = dict[str, Any]
Node = Annotated[str, Path(description="The node's name")]


def _require_node(store: Store, node: str) -> None:
    if not store.exists("node", node=names.node_name(node)):
        raise NotFound(f"Node {node} not found.")


def _none(store: Store, what: str, node: str | None) -> NoReturn:
    if node is not None:
        _require_node(store, node)
    raise NotFound(f"No SR-IOV {what} found" + (f" on node {node}." if node else "."))


@router.get("", responses=_READ)
def sriov_index() -> Json:
    return {"message": "SR-IOV: see /sriov/pf and /sriov/vf"}


@router.get("/pf", responses=_READ)
def pf_list(store: StoreDep) -> list[Json]:
    return _none(store, "PFs", None)


@router.get("/pf/{node}", responses=_READ)
def pf_list_node(store: StoreDep, node: Node) -> list[Json]:
    return _none(store, "PFs", node)


@router.get("/vf", responses=_READ)
def vf_list(store: StoreDep) -> list[Json]:
    return _none(store, "VFs", None)


@router.get("/vf/{node}", responses=_READ)
def vf_list_node(store: StoreDep, node: Node,
                 pf: Annotated[str | None, Query(description="Only the VFs of this PF")] = None
                 ) -> list[Json]:
    return _none(store, "VFs", node)


def _no_vf(store: Store, node: str, vf: str) -> NoReturn:
    _require_node(store, node)
    raise NotFound(f"VF {names.interface_name(vf)} not found on node {node}.")


@router.get("/vf/{node}/{vf}", responses=_READ)
def vf_info(store: StoreDep, node: Node, vf: Annotated[str, Path()]) -> list[Json]:
    _no_vf(store, node, vf)


@router.put("/vf/{node}/{vf}", response_model=schemas.Message, responses=_READ)
def vf_set(
    store: StoreDep, node: Node, vf: Annotated[str, Path()],
    vlan_id: Annotated[int | None, Query()] = None,
    vlan_qos: Annotated[int | None, Query()] = None,
    tx_rate_min: Annotated[int | None, Query()] = None,
    tx_rate_max: Annotated[int | None, Query()] = None,
    link_state: Annotated[str | None, Query(description="auto, enable or disable")] = None,
    spoof_check: Annotated[bool | None, Query()] = None,
    trust: Annotated[bool | None, Query()] = None,
    query_rss: Annotated[bool | None, Query()] = None,
) -> Json:
    """Configure a VF (none exist on these nodes: 404)."""
    _no_vf(store, node, vf)
