"""What clients see of tasks: pure conversions of Celery's data to PVC's wire shapes.

`task_status` turns a task's result-store entry into the body of `GET /tasks/{id}`:
`state` is PENDING, RUNNING, SUCCESS or FAILURE; `current`/`total` count steps; `status` is
the latest message (the error's on failure); `result` comes with SUCCESS. `task_listing`
turns Celery's inspect replies into the body of `GET /tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pvc.common.errors import PVCError
from pvc.tasks.progress import RUNNING

PENDING_STATES = frozenset({"PENDING", "RECEIVED"})
RUNNING_STATES = frozenset({"STARTED", RUNNING, "RETRY"})
FAILED_STATES = frozenset({"FAILURE", "REVOKED"})
LISTING_SECTIONS = ("active", "reserved", "scheduled")


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def error_message(exc: Any) -> str:
    """The status text of a failed task: our errors' messages as they are."""
    if isinstance(exc, PVCError):
        return exc.message
    if isinstance(exc, BaseException):
        text = str(exc)
        name = type(exc).__name__
        return f"{name}: {text}" if text else name
    return str(exc) if exc is not None else "The task failed"


def error_name(exc: Any) -> str | None:
    return type(exc).__name__ if isinstance(exc, BaseException) else None


def task_status(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `GET /tasks/{id}` body for the result-store entry `meta` (None: nothing yet)."""
    state = str((meta or {}).get("status") or "PENDING")
    result = (meta or {}).get("result")
    if state in PENDING_STATES:
        return {"state": "PENDING", "current": 0, "total": 1, "status": "Pending job start"}
    if state in RUNNING_STATES:
        info = result if isinstance(result, Mapping) else {}
        total = max(1, _int(info.get("total"), 1))
        if state == "RETRY":
            message = f"Retrying: {error_message(result)}"
        else:
            message = str(info.get("status") or "Starting job")
        return {"state": "RUNNING", "current": _int(info.get("current"), 0), "total": total,
                "status": message}
    if state == "SUCCESS":
        info = result if isinstance(result, Mapping) else {}
        total = max(1, _int(info.get("total"), 1))
        status = info.get("status")
        return {"state": "SUCCESS", "current": _int(info.get("current"), total), "total": total,
                "status": str(status) if status is not None else "Task completed successfully",
                "result": result}
    if state in FAILED_STATES:
        body = {"state": "FAILURE", "current": 1, "total": 1,
                "status": "The task was revoked" if state == "REVOKED" else error_message(result)}
        name = error_name(result)
        if name:
            body["error"] = name
        return body
    # An unknown custom state: show it as running, with its name as the message.
    return {"state": "RUNNING", "current": 0, "total": 1, "status": state}


def _literal(value: Any) -> str:
    """Arguments as a Python literal string (PVC's listing shows them so)."""
    return value if isinstance(value, str) else repr(value)


def listing_entry(item: Mapping[str, Any]) -> dict[str, Any]:
    """One task of an inspect reply as `{id, name, args, kwargs}`; scheduled tasks nest
    their request under `request`."""
    request = item.get("request")
    src = request if isinstance(request, Mapping) else item
    return {
        "id": str(src.get("id", "")),
        "name": str(src.get("name", "")),
        "args": _literal(src.get("args", [])),
        "kwargs": _literal(src.get("kwargs", {})),
    }


def task_listing(replies: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
    """`{active|reserved|scheduled: {worker: [{id, name, args, kwargs}]}}` from the replies
    of Celery's inspect calls (None: no worker answered)."""
    body: dict[str, Any] = {}
    for section in LISTING_SECTIONS:
        workers = replies.get(section) or {}
        body[section] = {
            str(worker): [listing_entry(t) for t in (tasks or []) if isinstance(t, Mapping)]
            for worker, tasks in sorted(workers.items())
        }
    return body
