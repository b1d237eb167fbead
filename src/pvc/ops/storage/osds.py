"""OSD requests: the checks of `osd.add` and `osd.remove` that need only the cluster state
(the API refuses a bad request before a task is sent; the worker checks again), and the rule
for a device's path.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from pvc.common import names
from pvc.common.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidArgument,
    InvalidState,
    NotFound,
)
from pvc.state.store import Store

CONFIRM = "yes"
MAX_WEIGHT = 10000.0
DEVICE_PATH = re.compile(r"^/[A-Za-z0-9._:+@,=/-]{1,254}$")


def check_device_path(device: str) -> str:
    """An absolute device path of plain characters (no `..`, no shell syntax)."""
    if not isinstance(device, str) or device.startswith("detect:"):
        raise InvalidArgument(f"Device {device!r} is not supported: give the device's path "
                              "(detect: strings are not supported)")
    if (not DEVICE_PATH.fullmatch(device) or os.path.normpath(device) != device
            or device == "/"):
        raise InvalidArgument(f"Invalid device path {device!r}: use an absolute path of "
                              "letters, digits and . _ - : + @ , = (e.g. /dev/sdb)")
    return device


def check_weight(weight: Any) -> float:
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Invalid OSD weight {weight!r}: use a number") from None
    if isinstance(weight, bool) or not math.isfinite(value) or not 0 <= value <= MAX_WEIGHT:
        raise InvalidArgument(f"Invalid OSD weight {weight!r}: use a number from 0 to "
                              f"{MAX_WEIGHT:g}")
    return value


def check_add_options(ext_db_ratio: Any = None, ext_db_size: Any = None,
                      osd_count: Any = None) -> None:
    """Refuse what this implementation does not do: external DB devices, split OSDs."""
    if ext_db_ratio not in (None, "") or ext_db_size not in (None, ""):
        raise InvalidArgument("External OSD database devices (ext_db_ratio, ext_db_size) "
                              "are not supported: the OSD keeps its database on its device")
    if osd_count not in (None, "", 1, "1"):
        raise InvalidArgument(f"Split OSDs (osd_count={osd_count}) are not supported: "
                              "one OSD per device")


def recorded_device(store: Store, node: str, device: str) -> str | None:
    """The id of an OSD that the cluster state records on `device` of `node`, if any."""
    ids = store.children("root.ceph.osds")
    records = store.read_many([("osd", {"osd": i}) for i in ids])
    for osd, record in zip(ids, records, strict=True):
        if (isinstance(record, dict) and record.get("node") == node
                and record.get("device") == device):
            return osd
    return None


def check_add_request(store: Store, node: str, device: str, weight: Any,
                      ext_db_ratio: Any = None, ext_db_size: Any = None,
                      osd_count: Any = None) -> tuple[str, str, float]:
    """(node, device, weight) of a valid `osd.add` request, checked against the state."""
    node = names.node_name(node)
    device = check_device_path(device)
    weight = check_weight(weight)
    check_add_options(ext_db_ratio, ext_db_size, osd_count)
    if not store.exists("node", node=node):
        raise NotFound(f"Node {node} not found")
    known = recorded_device(store, node, device)
    if known is not None:
        raise AlreadyExists(f"Device {device} of node {node} is already OSD {known}")
    return node, device, weight


def check_remove_request(store: Store, osd: str | int, confirm: str | None) -> tuple[str, str]:
    """(osd id, its node) of a valid `osd.remove` request."""
    osd = names.osd_id(osd)
    record = store.read("osd", default=None, osd=osd)
    if record is None:
        raise NotFound(f"OSD {osd} not found")
    if confirm != CONFIRM:
        raise InvalidArgument(f"Removing OSD {osd} destroys its data; confirm with "
                              "yes-i-really-mean-it=yes")
    node = record.get("node") if isinstance(record, dict) else None
    if not node:
        raise InvalidState(f"OSD {osd} has no node recorded, so no worker can remove it")
    return osd, str(node)


def write_record(store: Store, osd: int | str, record: dict[str, Any],
                 stats: dict[str, Any] | None = None) -> None:
    """Create or replace an OSD's record (and create its figures if given and missing), in
    one transaction; the primary's publisher may adopt a new OSD at the same moment (its
    record is then completed)."""
    key = str(osd)
    for _ in range(5):
        txn = store.txn()
        if store.exists("osd", osd=key):
            txn.set("osd", record, osd=key)
        else:
            txn.create("osd", record, osd=key)
        if stats is not None and not store.exists("osd.stats", osd=key):
            txn.create("osd.stats", stats, osd=key)
        try:
            txn.commit()
            return
        except (AlreadyExists, NotFound, Conflict):
            continue  # the publisher wrote in between: look again
    raise BackendError(f"Could not record OSD {key}: its record kept changing")
