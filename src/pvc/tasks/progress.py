"""The progress protocol of task bodies: what `GET /tasks/{id}` shows while a task runs.

    start(task, total, msg)            RUNNING, 0 of `total` steps, `msg`
    update(task, current, total, msg)  RUNNING, `current` of `total`, `msg`
    return finish(task, msg)           SUCCESS: the result {"current", "total", "status"}
    fail(task, msg)                    raises a `pvc.common.errors` error: FAILURE, `msg`

`task` is the bound Celery task (the first argument of a registered body). The state of a
task in progress is the custom Celery state RUNNING with the meta {current, total, status}.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, NoReturn, Protocol

from pvc.common.errors import BackendError, InvalidArgument, PVCError
from pvc.tasks.records import BROKER_ERRORS

log = logging.getLogger(__name__)

RUNNING = "RUNNING"
_TOTAL_ATTR = "pvc_progress_total"


class ProgressTask(Protocol):
    """What the helpers need of a bound Celery task."""

    @property
    def request(self) -> Any: ...

    def update_state(self, task_id: str | None = None, state: str | None = None,
                     meta: dict[str, Any] | None = None, **kwargs: Any) -> None: ...


def progress_meta(current: int, total: int, status: str) -> dict[str, Any]:
    """The meta of one progress report; `current` is kept within 0..total."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise InvalidArgument(f"A task's total number of steps must be at least 1, not {total!r}")
    if isinstance(current, bool) or not isinstance(current, int):
        raise InvalidArgument(f"A task's current step must be an integer, not {current!r}")
    return {"current": max(0, min(current, total)), "total": total, "status": str(status)}


def _report(task: ProgressTask, current: int, total: int, msg: str) -> dict[str, Any]:
    meta = progress_meta(current, total, msg)
    with contextlib.suppress(AttributeError):  # a request object that takes no attributes
        setattr(task.request, _TOTAL_ATTR, total)
    try:
        task.update_state(state=RUNNING, meta=meta)
    except BROKER_ERRORS as exc:  # a report lost (the broker failing over) stops no work
        log.warning("Progress of task %s not reported (%s/%s %s): %s",
                    getattr(task.request, "id", "?"), current, total, msg, exc)
    return meta


def start(task: ProgressTask, total: int = 1, msg: str = "Starting") -> dict[str, Any]:
    """The task has begun: 0 of `total` steps done."""
    return _report(task, 0, total, msg)


def update(task: ProgressTask, current: int, total: int, msg: str) -> dict[str, Any]:
    """`current` of `total` steps are done; `msg` says what happens now."""
    return _report(task, current, total, msg)


def finish(task: ProgressTask, msg: str = "Task completed successfully") -> dict[str, Any]:
    """The result a body returns when it succeeded: every step done, `msg` as status."""
    total = getattr(task.request, _TOTAL_ATTR, 1)
    steps = total if isinstance(total, int) and not isinstance(total, bool) and total >= 1 else 1
    return progress_meta(steps, steps, msg)


def fail(task: ProgressTask, msg: str, error: type[PVCError] = BackendError) -> NoReturn:
    """End the task as FAILURE with `msg` as its status (raises `error(msg)`)."""
    raise error(msg)
