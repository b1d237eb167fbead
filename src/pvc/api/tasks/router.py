"""Task endpoints: `GET /tasks` (what the workers run) and `GET /tasks/{task_id}`.

Endpoints that start a task (OSD add/remove, lock flush, benchmark, ...) submit it with
`TasksDep` and answer `task_accepted(...)`: HTTP 202 with `{"task_id", "task_name",
"run_on"}`, as PVC clients require. With Redis unreachable every task endpoint answers 503.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pvc.api import schemas
from pvc.common.config import Config
from pvc.tasks.service import TaskService

router = APIRouter(prefix="/tasks", tags=["tasks"])

_LOCK = threading.Lock()
UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"model": schemas.ErrorMessage}}


def get_tasks(request: Request) -> TaskService:
    """The API's task service, made from its config on first use (a test may set
    `app.state.tasks` first)."""
    state = request.app.state
    service = getattr(state, "tasks", None)
    if service is None:
        with _LOCK:
            service = getattr(state, "tasks", None)
            if service is None:
                service = TaskService.from_config(cast(Config, state.config))
                state.tasks = service
    return cast(TaskService, service)


TasksDep = Annotated[TaskService, Depends(get_tasks)]


class CeleryTask(BaseModel):
    """The body of a 202 answer: the task that was started."""

    task_id: str
    task_name: str
    run_on: str = Field(description="The node whose worker runs the task")


TASK_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": CeleryTask, "description": "The task was started"},
    **UNAVAILABLE,
}


def task_accepted(task: dict[str, Any]) -> JSONResponse:
    """HTTP 202 with the submitted task (`TaskService.submit`'s answer)."""
    return JSONResponse(CeleryTask(**task).model_dump(), status_code=202)


class TaskEntry(BaseModel):
    id: str
    name: str
    args: str = Field(description="The positional arguments, as a Python literal")
    kwargs: str = Field(description="The keyword arguments, as a Python literal")


WorkerTasks = dict[str, list[TaskEntry]]


class TaskListing(BaseModel):
    active: WorkerTasks = Field(description="Running tasks, by worker")
    reserved: WorkerTasks = Field(description="Tasks a worker took but has not started")
    scheduled: WorkerTasks = Field(description="Tasks waiting for their time, by worker")


class TaskStatus(BaseModel):
    state: str = Field(description="PENDING, RUNNING, SUCCESS or FAILURE")
    current: int = Field(description="Steps done")
    total: int = Field(description="Steps in all")
    status: str = Field(description="What the task does now, or its result or error")
    result: Any = Field(None, description="The task's result (SUCCESS only)")
    error: str | None = Field(None, description="The error's class (FAILURE only)")
    task_name: str | None = None
    run_on: str | None = Field(None, description="The node whose worker runs the task")


@router.get("", response_model=TaskListing, responses={**schemas.AUTH_ERRORS, **UNAVAILABLE})
def list_tasks(tasks: TasksDep) -> TaskListing:
    """The tasks every worker is running (active), holds (reserved) and has scheduled."""
    return TaskListing.model_validate(tasks.listing())


@router.get(
    "/{task_id}",
    response_model=TaskStatus,
    response_model_exclude_unset=True,
    responses={**schemas.AUTH_ERRORS, **schemas.NOT_FOUND, **UNAVAILABLE},
)
def task_status(
    tasks: TasksDep, task_id: Annotated[str, Path(description="The task's ID")]
) -> TaskStatus:
    """The state and progress of one task (404 for an ID that was never submitted)."""
    return TaskStatus(**tasks.status(task_id))
