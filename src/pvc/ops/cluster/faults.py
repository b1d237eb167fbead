"""Cluster faults: raised by the primary's fault monitor (and by fencing), listed,
acknowledged and deleted by operators.

A fault is one JSON record at `/faults/<ID>` (schema key `fault`), with an ID of the form
`<TYPE>_<ENTRY>` (DEAD_NODE_hv2, VM_FAILED_web1, CEPH_WARN_OSD_DOWN...):

    {"first_reported", "last_reported", "acknowledged_at", "status", "health_delta",
     "message"}

Times are UTC strings `YYYY-MM-DD HH:MM:SS.ffffff` (sortable as text); `acknowledged_at` is
"" until the fault is acknowledged, `status` is "new" or "ack". Every change is one
ZooKeeper transaction, conditional on the version that was read. A fault raised again
keeps its acknowledgement (so an operator who acknowledged a known problem is not paged
again every monitoring run) and only refreshes `last_reported`, the delta and the message.
While the cluster is in maintenance mode no fault is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.state.schema import segment
from pvc.state.store import Store

STATUS_NEW = "new"
STATUS_ACK = "ack"
SORT_KEYS = ("first_reported", "last_reported", "acknowledged_at", "status", "health_delta",
             "message")
DEFAULT_SORT_KEY = "last_reported"
MAX_DELTA = 100
MAX_MESSAGE = 1024
_RETRIES = 5


@dataclass(frozen=True)
class Fault:
    id: str
    first_reported: str
    last_reported: str
    acknowledged_at: str
    status: str
    health_delta: int
    message: str

    @property
    def acknowledged(self) -> bool:
        return self.status == STATUS_ACK

    def wire(self) -> dict[str, Any]:
        """The API's representation (PVC's `fault` object)."""
        return {
            "id": self.id,
            "status": self.status,
            "health_delta": self.health_delta,
            "first_reported": self.first_reported,
            "last_reported": self.last_reported,
            "acknowledged_at": self.acknowledged_at,
            "message": self.message,
        }


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def fault_id(value: str) -> str:
    """Validate a fault ID (letters, digits, '_', '.', '-'; at most 128 characters)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"Invalid fault ID {value!r}")
    return segment("fault", value)


def _record(fid: str, data: dict[str, Any]) -> Fault:
    return Fault(
        id=fid,
        first_reported=str(data.get("first_reported", "")),
        last_reported=str(data.get("last_reported", "")),
        acknowledged_at=str(data.get("acknowledged_at", "")),
        status=str(data.get("status", STATUS_NEW)),
        health_delta=int(data.get("health_delta", 0)),
        message=str(data.get("message", "")),
    )


def _check_report(delta: int, message: str) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int) or not 0 <= delta <= MAX_DELTA:
        raise InvalidArgument(f"Invalid fault health delta {delta!r}: use 0-{MAX_DELTA}")
    if not isinstance(message, str) or len(message) > MAX_MESSAGE:
        raise InvalidArgument(f"Invalid fault message: at most {MAX_MESSAGE} characters")


def in_maintenance(store: Store) -> bool:
    return bool(store.read("config.maintenance", default=False))


def raise_fault(store: Store, fault_id: str, delta: int, message: str) -> bool:
    """Record a fault (or refresh it if it exists) and return True; in maintenance mode
    do nothing and return False. An acknowledged fault stays acknowledged. The write is
    one transaction that also checks maintenance mode did not change since it was read."""
    fid = _validated(fault_id)
    _check_report(delta, message)
    for _ in range(_RETRIES):
        try:
            maintenance = store.read_versioned("config.maintenance")
        except NotFound:
            maintenance = None
        if maintenance is not None and maintenance.value:
            return False
        txn = store.txn()
        if maintenance is not None:
            txn.check("config.maintenance", maintenance.version)
        stamp = now()
        try:
            current = store.read_versioned("fault", fault=fid)
        except NotFound:
            txn.create("fault", {"first_reported": stamp, "last_reported": stamp,
                                 "acknowledged_at": "", "status": STATUS_NEW,
                                 "health_delta": delta, "message": message}, fault=fid)
        else:
            old = current.value if isinstance(current.value, dict) else {}
            txn.set("fault", {"first_reported": stamp, "acknowledged_at": "",
                              "status": STATUS_NEW, **old, "last_reported": stamp,
                              "health_delta": delta, "message": message},
                    current.version, fault=fid)
        try:
            txn.commit()
        except (AlreadyExists, Conflict, NotFound):
            continue  # raised, changed or deleted concurrently: read again
        return True
    raise Conflict(f"Fault {fid} kept changing while being raised; try again")


def _validated(value: str) -> str:
    return fault_id(value)


def fault_ids(store: Store) -> list[str]:
    return store.children("root.faults") if store.exists("root.faults") else []


def list_faults(store: Store, sort_key: str = DEFAULT_SORT_KEY) -> list[Fault]:
    """Every fault, sorted by one of PVC's sort keys. Times, status and message sort
    ascending; `last_reported`, `first_reported` and `acknowledged_at` sort newest first
    and `health_delta` largest first, as an operator reads them (ties by ID)."""
    if sort_key not in SORT_KEYS:
        raise InvalidArgument(
            f"Invalid sort key {sort_key!r}: use one of {', '.join(SORT_KEYS)}"
        )
    ids = fault_ids(store)
    records = store.read_many([("fault", {"fault": f}) for f in ids])
    faults = [_record(f, r) for f, r in zip(ids, records, strict=True) if isinstance(r, dict)]
    faults.sort(key=lambda f: f.id)
    descending = sort_key in ("first_reported", "last_reported", "acknowledged_at",
                              "health_delta")
    faults.sort(key=lambda f: getattr(f, sort_key), reverse=descending)
    return faults


def get_fault(store: Store, fault_id: str) -> Fault:
    fid = _validated(fault_id)
    data = store.read("fault", default=None, fault=fid)
    if not isinstance(data, dict):
        raise NotFound(f"No fault with ID {fid!r} exists")
    return _record(fid, data)


def _update(store: Store, fid: str, change: dict[str, Any]) -> None:
    for _ in range(_RETRIES):
        try:
            current = store.read_versioned("fault", fault=fid)
        except NotFound:
            raise NotFound(f"No fault with ID {fid!r} exists") from None
        try:
            old = current.value if isinstance(current.value, dict) else {}
            store.write("fault", {**old, **change}, current.version, fault=fid)
        except Conflict:
            continue
        except NotFound:
            raise NotFound(f"No fault with ID {fid!r} exists") from None
        return
    raise Conflict(f"Fault {fid} kept changing; try again")


def acknowledge(store: Store, fault_id: str) -> str:
    """Acknowledge one fault: it stays listed but no longer lowers the cluster health.
    Acknowledging an acknowledged fault keeps its first acknowledgement time."""
    fault = get_fault(store, fault_id)
    if not fault.acknowledged:
        _update(store, fault.id, {"status": STATUS_ACK, "acknowledged_at": now()})
    return f"Successfully acknowledged fault {fault.id}."


def acknowledge_all(store: Store) -> str:
    """Acknowledge every fault, in one transaction."""
    ids = fault_ids(store)
    for _ in range(_RETRIES):
        found = store.fetch_many([store.path("fault", fault=f) for f in ids])
        stamp = now()
        txn = store.txn()
        for fid, item in zip(ids, found, strict=True):
            if item is None:
                continue
            record = store.schema.key("fault").codec.decode(item[0])
            if isinstance(record, dict) and record.get("status") != STATUS_ACK:
                txn.set("fault", {**record, "status": STATUS_ACK, "acknowledged_at": stamp},
                        item[1].version, fault=fid)
        try:
            txn.commit()
        except (Conflict, NotFound):
            continue
        return "Successfully acknowledged all faults."
    raise Conflict("Faults kept changing while being acknowledged; try again")


def delete(store: Store, fault_id: str) -> str:
    fid = _validated(fault_id)
    try:
        store.txn().delete("fault", fault=fid).commit()
    except NotFound:
        raise NotFound(f"No fault with ID {fid!r} exists") from None
    return f"Successfully deleted fault {fid}."


def delete_all(store: Store) -> str:
    """Delete every fault, in one transaction."""
    for _ in range(_RETRIES):
        txn = store.txn()
        for fid in fault_ids(store):
            txn.delete("fault", fault=fid)
        try:
            txn.commit()
        except NotFound:
            continue  # one went away meanwhile: list again
        return "Successfully deleted all faults."
    raise Conflict("Faults kept changing while being deleted; try again")


def health(faults: list[Fault]) -> int:
    """Cluster health: 100 minus the deltas of the unacknowledged faults, at least 0."""
    return max(0, 100 - sum(f.health_delta for f in faults if not f.acknowledged))
