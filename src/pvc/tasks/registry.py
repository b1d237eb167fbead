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
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from celery import Celery

from pvc.common.errors import AlreadyExists, InvalidArgument, PVCError

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
    if not isinstance(name, str) or not TASK_NAME.match(name) or len(name) > 64:
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
            app.task(name=spec.name, bind=True, **options)(spec.body)
    return sorted(_REGISTRY)
