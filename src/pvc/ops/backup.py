"""Whole-cluster data operations: initialize, backup, restore."""

from __future__ import annotations

import base64
import binascii
import json
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


def _precheck(data: dict[str, Any]) -> None:
    """What ZooKeeper would reject, or base64 would silently mangle, is refused first."""
    for section in ("keys", "binary"):
        values = data.get(section) or {}
        if not isinstance(values, dict):
            continue
        for path, value in values.items():
            parts = str(path).split("/")[1:]
            for part in parts:
                if part in (".", "..") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in part):
                    raise InvalidArgument(f"The backup holds an invalid path: {path!r}")
            if section == "binary":
                try:
                    base64.b64decode(str(value), validate=True)
                except binascii.Error as exc:
                    raise InvalidArgument(
                        f"The cluster data is malformed: {path} is not base64 ({exc})"
                    ) from exc


def restore(store: Store, cluster_data: str) -> str:
    """Replace the cluster's data with a backup of the same schema version."""
    if not cluster_data.strip():
        raise InvalidArgument("The cluster data (cluster_data) is empty")
    try:
        data = json.loads(cluster_data)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"The cluster data is not valid JSON: {exc}") from exc
    if isinstance(data, str):  # a double-encoded backup, as GET /backup sends it
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"The cluster data is not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        _precheck(data)
    try:
        count = tree.restore(store, data)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidArgument(f"The cluster data is malformed: {exc}") from exc
    return f"Restore completed successfully ({count} keys)."
