"""Whole-cluster data operations: initialize, backup, restore."""

from __future__ import annotations

from typing import Any

from pvc.common.errors import InvalidArgument
from pvc.state import tree
from pvc.state.store import Store

CONFIRMATION = "yes"


def confirm(value: str | None, what: str) -> None:
    """Destructive calls need `yes-i-really-mean-it=yes`."""
    if value is None or value.strip().lower() != CONFIRMATION:
        raise InvalidArgument(
            f"{what} is destructive; confirm it with the parameter 'yes-i-really-mean-it=yes'"
        )


def initialize(store: Store, overwrite: bool) -> str:
    tree.initialize(store, overwrite=overwrite)
    return "Successfully initialized a new PVC cluster."


def backup(store: Store) -> dict[str, Any]:
    return tree.backup(store)


def restore(store: Store, cluster_data: str) -> str:
    """Replace the cluster's data with a backup of the same schema version."""
    if not cluster_data.strip():
        raise InvalidArgument("The cluster data (cluster_data) is empty")
    count = tree.restore(store, cluster_data)
    return f"Restore completed successfully ({count} keys)."
