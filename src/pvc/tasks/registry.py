"""The registry of task bodies, by PVC's task names.

A module of task bodies registers each one with `@register("osd.add")`; the body takes the
running Celery task first (for the progress helpers of `pvc.tasks.progress`), then the
task's own arguments, and returns `progress.finish(...)`:

    @register(catalogue.OSD_ADD)
    def add_osd(task: Task, node: str, device: str) -> dict[str, Any]:
        progress.start(task, 5, "Preparing the device")
        ...
        return progress.finish(task, f"Added OSD on {device}")

`install(app)` binds every registered body to a Celery app (the worker does it after
importing the modules listed in `pvc.tasks.catalogue`). The API side only needs the names:
`submit` refuses a name that is neither registered nor in the catalogue.

Each bound body runs at most once to its end per task id: its result is kept in the
task's record (`pvc.tasks.records`), and a task delivered again after it finished (Celery
delivers at least once) returns that result without running the body again. A delivery
that arrives while the first still runs (kombu hands back a running task's message when
its broker connection drops) waits for it, then returns its result. A task whose worker
died in the middle is run again from the start: each body must then reach the same end
without doing twice what the first run did (its own checks and locks); the record counts
the runs, and `is_rerun(task)` tells a body that it is such a second run.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from celery import Celery

from pvc.common.errors import AlreadyExists, InvalidArgument, PVCError, Unavailable
from pvc.tasks import records

log = logging.getLogger(__name__)

# PVC's names: dotted lower-case words, e.g. "osd.add", "vm.flush_locks".
TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TaskSpec:
    name: str
    body: Callable[..., Any]
    options: dict[str, Any]


_REGISTRY: dict[str, TaskSpec] = {}


def task_name(name: str) -> str:
    """`name` if it is a well-formed task name, else InvalidArgument."""
    if not isinstance(name, str) or not TASK_NAME.fullmatch(name) or len(name) > 64:
        raise InvalidArgument(f"Invalid task name {name!r}: use dotted lower-case words")
    return name


def register(name: str, **options: Any) -> Callable[[F], F]:
    """Register a task body under `name` (Celery task `options` such as `time_limit`)."""
    task_name(name)

    def decorate(body: F) -> F:
        known = _REGISTRY.get(name)
        if known is not None and known.body is not body:
            raise AlreadyExists(f"Task {name} is already registered by {known.body.__module__}")
        _REGISTRY[name] = TaskSpec(name, body, dict(options))
        return body

    return decorate


def registered() -> dict[str, TaskSpec]:
    """The registered task bodies, by name."""
    return dict(_REGISTRY)


def install(app: Celery) -> list[str]:
    """Bind every registered body to `app` (again after more modules were imported);
    returns the names bound."""
    for spec in _REGISTRY.values():
        if spec.name not in app.tasks:
            # Our errors are the expected way for a task to fail (`progress.fail`): the
            # worker logs them as one line, not as an unexpected traceback.
            options = {"throws": (PVCError,), **spec.options}
            app.task(name=spec.name, bind=True, **options)(once_per_id(spec.body))
    return sorted(_REGISTRY)


def once_per_id(body: F) -> F:
    """`body`, returning the kept result instead of running when its task id finished
    before (see the module documentation)."""

    @functools.wraps(body)
    def run(task: Any, *args: Any, **kwargs: Any) -> Any:
        task_id = getattr(task.request, "id", None)
        if not task_id:
            return body(task, *args, **kwargs)
        with running_alone(str(task_id)):
            return _once(body, task, str(task_id), *args, **kwargs)

    return run  # type: ignore[return-value]


# Set on the request of a body whose task ran before without finishing (its worker died).
RERUN_ATTR = "pvc_rerun"


def is_rerun(task: Any) -> bool:
    """Whether an earlier run of this task was cut short (so a body may find its work
    partly or wholly done: an OSD it removes may be gone already)."""
    return getattr(getattr(task, "request", None), RERUN_ATTR, False) is True


# Seconds between two tries for a task id that another process runs.
ALONE_POLL = 0.2


@contextlib.contextmanager
def running_alone(task_id: str) -> Iterator[None]:
    """Hold the task id on this host while the body runs, waiting for a process of this
    host that holds it already. The hold is an abstract Unix socket name: the kernel lets
    it go when its process dies, and it leaves no file behind."""
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    waited = False
    try:
        while True:
            try:
                holder.bind(f"\0pvc-task-{task_id}")
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
            if not waited:
                log.info("Task %s runs in another process here: waiting for it", task_id)
                waited = True
            time.sleep(ALONE_POLL)
        yield
    finally:
        holder.close()


def _once(body: Callable[..., Any], task: Any, task_id: str, *args: Any,
          **kwargs: Any) -> Any:
    try:
        found = records.lookup(task.app, task_id)
    except Unavailable as exc:  # unknown: run it (the body guards its own work)
        log.warning("Task %s: cannot tell whether it finished before: %s", task_id, exc)
        found = None
    done = (found or {}).get("finished")
    if isinstance(done, dict):
        log.info("Task %s (%s) finished before: its result stands, not run again",
                 task_id, task.name)
        return done
    if found is not None:
        try:
            found = records.mark_begun(task.app, task_id, found)
        except records.BROKER_ERRORS as exc:  # type: ignore[misc]
            log.warning("Task %s: its run could not be counted: %s", task_id, exc)
        if int(found.get("runs", 1) or 1) > 1:
            log.warning("Task %s (%s) runs again: an earlier run was cut short", task_id,
                        task.name)
            setattr(task.request, RERUN_ATTR, True)
    result = body(task, *args, **kwargs)
    if found is not None and isinstance(result, dict):
        try:
            records.mark_finished(task.app, task_id, found, result)
        except (PVCError, *records.BROKER_ERRORS) as exc:  # type: ignore[misc]
            log.warning("Task %s: its result could not be kept: %s", task_id, exc)
    return result
