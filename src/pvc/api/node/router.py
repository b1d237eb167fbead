"""Node endpoints: list, info, daemon/coordinator/domain state, log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from pvc.api import schemas, views
from pvc.api.deps import ConfigDep, StoppingDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.vm import schemas as vm_schemas
from pvc.common.config import Config
from pvc.common.errors import Conflict, InvalidArgument, NotFound
from pvc.ops import waiting
from pvc.ops.node import coordinator, logs
from pvc.ops.node import domain as node_domain
from pvc.ops.node import records as nodes
from pvc.ops.node.records import NodeRecord
from pvc.state.store import Store

router = APIRouter(prefix="/node", tags=["node"])

NodeName = Annotated[str, Path(description="The node's name")]
_READ_ERRORS = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}


def _record(store: Store, config: Config, node: str) -> NodeRecord:
    return nodes.get_node(store, node, config.keepalive_interval, config.fence_intervals)


@router.get("", response_model=list[schemas.Node], responses=_READ_ERRORS)
def list_nodes(
    store: StoreDep,
    config: ConfigDep,
    limit: Annotated[
        str | None,
        Query(description="A name regex; matches anywhere unless anchored with ^ or $"),
    ] = None,
    daemon_state: Annotated[schemas.DaemonState | None, Query()] = None,
    coordinator_state: Annotated[schemas.CoordinatorState | None, Query()] = None,
    domain_state: Annotated[schemas.DomainState | None, Query()] = None,
) -> list[schemas.Node]:
    """The nodes of the cluster, optionally filtered (404 when none match, as in PVC)."""
    found = nodes.list_nodes(
        store,
        config.keepalive_interval,
        config.fence_intervals,
        limit=limit,
        daemon_state=daemon_state,
        coordinator_state=coordinator_state,
        domain_state=domain_state,
    )
    if not found:
        raise NotFound("Node not found.")
    return [views.node(r) for r in found]


@router.get("/{node}", response_model=list[schemas.Node], responses=_READ_ERRORS)
def node_info(store: StoreDep, config: ConfigDep, node: NodeName) -> list[schemas.Node]:
    """One node, as a one-element list (as PVC answers)."""
    return [views.node(_record(store, config, node))]


@router.get("/{node}/daemon-state", response_model=schemas.NodeDaemonState, responses=_READ_ERRORS)
def daemon_state(store: StoreDep, config: ConfigDep, node: NodeName) -> schemas.NodeDaemonState:
    """The node daemon's state."""
    record = _record(store, config, node)
    return schemas.NodeDaemonState(name=record.name, daemon_state=record.daemon_state)


@router.get(
    "/{node}/coordinator-state", response_model=schemas.NodeCoordinatorState, responses=_READ_ERRORS
)
def coordinator_state(
    store: StoreDep, config: ConfigDep, node: NodeName
) -> schemas.NodeCoordinatorState:
    """The node's coordinator (router) state."""
    record = _record(store, config, node)
    return schemas.NodeCoordinatorState(
        name=record.name, coordinator_state=record.coordinator_state
    )


@router.post("/{node}/coordinator-state", response_model=schemas.Message, responses=_READ_ERRORS)
@refusals_as_400
def set_coordinator_state(
    store: StoreDep,
    node: NodeName,
    state: Annotated[
        schemas.CoordinatorAction | None,
        Query(description="The wanted coordinator state (PVC clients send this)"),
    ] = None,
    action: Annotated[
        schemas.CoordinatorAction | None,
        Query(description="Alias of 'state' (the name in PVC's published API document)"),
    ] = None,
) -> schemas.Message:
    """Ask for a primary handover: make the node primary, or make it step down."""
    wanted = state or action
    if wanted is None:
        raise InvalidArgument("Missing required parameter 'state' (primary or secondary)")
    return schemas.Message(message=coordinator.set_coordinator_state(store, node, wanted))


@router.get("/{node}/domain-state", response_model=schemas.NodeDomainState, responses=_READ_ERRORS)
def domain_state(store: StoreDep, config: ConfigDep, node: NodeName) -> schemas.NodeDomainState:
    """The node's domain (VM hosting) state."""
    record = _record(store, config, node)
    return schemas.NodeDomainState(name=record.name, domain_state=record.domain_state)


# How long `wait=true` waits for a flush or ready: a flush migrates VMs one by one.
DOMAIN_STATE_WAIT = 300.0
_DOMAIN_STATE_DONE = {
    "flush": ("flushed", "Removed node {} from active service."),
    "ready": ("ready", "Restored node {} to active service."),
}


@router.post("/{node}/domain-state", response_model=schemas.Message, responses=_READ_ERRORS)
@refusals_as_400
def set_domain_state(
    store: StoreDep,
    stopping: StoppingDep,
    node: NodeName,
    state: Annotated[
        vm_schemas.DomainStateAction | None,
        Query(description="flush or ready (PVC clients send this)"),
    ] = None,
    action: Annotated[
        vm_schemas.DomainStateAction | None,
        Query(description="Alias of 'state' (the name in PVC's published API document)"),
    ] = None,
    wait: Annotated[
        bool, Query(description="Answer only once the node is flushed (or ready)")
    ] = False,
) -> schemas.Message:
    """Flush the node (move its VMs away) or make it ready to run VMs again."""
    wanted = state or action
    if wanted is None:
        raise InvalidArgument("Missing required parameter 'state' (flush or ready)")
    message = node_domain.set_domain_state(store, node, wanted)
    if not wait or "already" in message:
        return schemas.Message(message=message)
    reached = waiting.wait_domain_state(store, node, DOMAIN_STATE_WAIT, stopping)
    final, done = _DOMAIN_STATE_DONE[wanted]
    if reached != final:
        raise Conflict(f"Node {node} is {reached}: a newer flush or ready replaced this one")
    return schemas.Message(message=done.format(node))


@router.get("/{node}/log", response_model=schemas.NodeLog, responses=_READ_ERRORS)
def node_log(
    store: StoreDep,
    config: ConfigDep,
    node: NodeName,
    lines: Annotated[
        int, Query(ge=1, description="How many of the newest lines to return")
    ] = logs.DEFAULT_LINES,
) -> schemas.NodeLog:
    """The newest lines of the node daemon's log."""
    data = logs.node_log(store, node, lines, config.node_log_lines)
    return schemas.NodeLog(name=node, data=data)
