"""Ceph cluster-wide operations and the status texts the primary publishes."""

from __future__ import annotations

from typing import Any

from pvc.common import names
from pvc.common.errors import InvalidArgument
from pvc.drivers.storage.base import OSD_FLAGS, Storage
from pvc.ops.storage import records
from pvc.state.store import Store

OSD_STATES = ("in", "out")


def status(store: Store, which: str) -> dict[str, Any]:
    """`ceph status` (which="status") or `ceph df` (which="util") as last published."""
    key = "ceph.status" if which == "status" else "ceph.util"
    text = store.read(key, default="")
    primary = store.read("config.primary_node", default="none")
    return {"type": which, "primary_node": primary,
            "ceph_data": text or "Ceph status not published yet (is the storage subsystem "
                                 "enabled and a primary running?)\n"}


def set_option(storage: Storage, option: str, action: str) -> str:
    if option not in OSD_FLAGS:
        raise InvalidArgument(f"Invalid OSD option {option!r}: use one of {', '.join(OSD_FLAGS)}")
    if action not in ("set", "unset"):
        raise InvalidArgument(f"Invalid action {action!r}: use set or unset")
    storage.set_flag(option, action == "set")
    return f'{"Set" if action == "set" else "Unset"} OSD property "{option}".'


def osd_state(store: Store, storage: Storage, osd: str, state: str) -> str:
    osd = names.osd_id(osd)
    if state not in OSD_STATES:
        raise InvalidArgument(f"Invalid OSD state {state!r}: use in or out")
    records.get_osd(store, osd)
    storage.osd_set_in(int(osd), state == "in")
    return f"Set OSD {osd} {state}."


def osd_state_of(store: Store, osd: str) -> dict[str, Any]:
    found = records.get_osd(store, names.osd_id(osd))
    stats = found["stats"]
    state = stats.get("state") or ""
    if isinstance(state, list):
        state = ",".join(state)
    return {"state": state, "up": stats.get("up", 0), "in": stats.get("in", 0)}
