"""The task endpoints of the PVC v1 API: `GET /tasks` and `GET /tasks/{task_id}`.

`TasksApi` wraps an `HttpClient` (usually the `ApiClient` of the CLI):
`TasksApi(client).task_status("e15be83e")`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pvc.client.http import HttpClient
from pvc.common.errors import BackendError

TASK_SECTIONS = ("active", "reserved", "scheduled")
TASK_STATES = ("PENDING", "RUNNING", "SUCCESS", "FAILURE")


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def task_from_body(body: Any) -> dict[str, Any]:
    """The `{task_id, task_name, run_on}` of a task-starting call's 202 answer."""
    if not isinstance(body, dict) or not isinstance(body.get("task_id"), str) or not body["task_id"]:
        raise BackendError("The API started a task but did not say which one")
    return {
        "task_id": body["task_id"],
        "task_name": str(body.get("task_name", "")),
        "run_on": str(body.get("run_on", "")),
    }


class TasksApi:
    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def task_list(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """GET /tasks: `{active|reserved|scheduled: {worker: [{id, name, args, kwargs}]}}`
        (a missing section counts as empty)."""
        body = self.client.get("/tasks")
        if not isinstance(body, dict):
            raise BackendError("The API answered GET /tasks with an unexpected body")
        listing: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for section in TASK_SECTIONS:
            workers = body.get(section)
            listing[section] = {
                str(worker): [t for t in tasks if isinstance(t, dict)]
                for worker, tasks in (workers.items() if isinstance(workers, dict) else ())
                if isinstance(tasks, list)
            }
        return listing

    def task_status(self, task_id: str) -> dict[str, Any]:
        """GET /tasks/{task_id}: `state`, `current`, `total`, `status` (and `result` on
        success); NotFound for an unknown id."""
        body = self.client.get(f"/tasks/{quote(str(task_id), safe='')}")
        if isinstance(body, list) and len(body) == 1:
            body = body[0]
        if not isinstance(body, dict) or "state" not in body:
            raise BackendError(f"The API answered GET /tasks/{task_id} with an unexpected body")
        status = dict(body)
        status["state"] = str(body["state"])
        status["total"] = max(1, _int(body.get("total"), 1))
        status["current"] = _int(body.get("current"), 0)
        status["status"] = "" if body.get("status") is None else str(body["status"])
        return status
