"""Prometheus metrics (unauthenticated, switched by `subsystem.enable_prometheus`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from pvc.api import schemas
from pvc.api.deps import ConfigDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.metrics.render import Subset, render
from pvc.common.config import Config
from pvc.common.errors import InvalidState
from pvc.ops.cluster import status as cluster_ops
from pvc.state.store import Store

router = APIRouter(prefix="/metrics", tags=["root"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_DOC = {
    200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"},
    **schemas.BAD_REQUEST,
}


def _metrics(store: Store, config: Config, subset: Subset) -> Response:
    if not config.enable_prometheus:
        raise InvalidState("Prometheus metrics are disabled (subsystem.enable_prometheus)")
    body = render(cluster_ops.status(store, config), subset)
    return Response(content=body, media_type=CONTENT_TYPE)


@router.get("", response_class=Response, responses=_DOC)
@refusals_as_400
def metrics(store: StoreDep, config: ConfigDep) -> Response:
    """Cluster and node health and resource metrics."""
    return _metrics(store, config, "all")


@router.get("/health", response_class=Response, responses=_DOC)
@refusals_as_400
def metrics_health(store: StoreDep, config: ConfigDep) -> Response:
    """Health metrics only: cluster and node health, states, primary, maintenance."""
    return _metrics(store, config, "health")


@router.get("/resource", response_class=Response, responses=_DOC)
@refusals_as_400
def metrics_resource(store: StoreDep, config: ConfigDep) -> Response:
    """Resource metrics only: CPU, memory, VM and object counts."""
    return _metrics(store, config, "resource")
