"""Cluster endpoints: status and maintenance, the primary node, initialize, backup, restore."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from pvc.api import schemas, views
from pvc.api.deps import ConfigDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.ops.cluster import backup as backup_ops
from pvc.ops.cluster import status as cluster_ops

router = APIRouter(tags=["root"])

CONFIRM_ALIAS = "yes-i-really-mean-it"
Confirm = Annotated[
    str, Query(alias=CONFIRM_ALIAS, description="Confirmation of a destructive call: 'yes'")
]
_WRITE_ERRORS = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST}


@router.get("/status", response_model=schemas.ClusterStatus, responses=schemas.AUTH_ERRORS)
def get_status(store: StoreDep, config: ConfigDep) -> schemas.ClusterStatus:
    """The current cluster status."""
    return views.status(cluster_ops.status(store, config))


@router.post("/status", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def set_status(
    store: StoreDep,
    state: Annotated[bool, Query(description="The cluster maintenance state")],
) -> schemas.Message:
    """Set or clear cluster maintenance mode."""
    return schemas.Message(message=cluster_ops.set_maintenance(store, state))


@router.get(
    "/status/primary_node", response_model=schemas.PrimaryNode, responses=schemas.AUTH_ERRORS
)
def get_primary_node(store: StoreDep) -> schemas.PrimaryNode:
    """The current primary coordinator (null during a handover)."""
    return schemas.PrimaryNode(primary_node=cluster_ops.primary_node(store))


@router.post("/initialize", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def initialize(
    store: StoreDep,
    confirm: Confirm,
    overwrite: Annotated[bool, Query(description="Wipe an existing cluster's data first")] = False,
) -> schemas.Message:
    """Create the base data of a new cluster (with overwrite: replacing everything)."""
    backup_ops.confirm(confirm, "Initialization")
    return schemas.Message(message=backup_ops.initialize(store, overwrite))


@router.get("/backup", response_model=str, responses=schemas.AUTH_ERRORS)
def get_backup(store: StoreDep) -> str:
    """The cluster's data as a JSON document, sent as a JSON string (double-encoded)."""
    return json.dumps(backup_ops.backup(store))


@router.post("/restore", response_model=schemas.Message, responses=_WRITE_ERRORS)
@refusals_as_400
def restore(
    store: StoreDep,
    confirm: Confirm,
    cluster_data: Annotated[
        str, Query(description="The JSON of a backup (usually in a form body)")
    ],
) -> schemas.Message:
    """Replace the cluster's data with a backup of the same schema version."""
    backup_ops.confirm(confirm, "Restore")
    return schemas.Message(message=backup_ops.restore(store, cluster_data))
