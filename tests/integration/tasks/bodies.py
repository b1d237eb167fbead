"""Task bodies for the task tests (no tests here): a worker started with
`--include tests.integration.tasks.bodies` runs them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pvc.common.errors import InvalidState
from pvc.tasks import progress
from pvc.tasks.registry import register

GATED = "testing.gated"
FAILING = "testing.failing"
ECHO = "testing.echo"
COUNTED = "testing.counted"


@register(GATED)
def gated(task: Any, gate: str, timeout: float = 20.0, runs: str = "") -> dict[str, Any]:
    """Reports step 1 of 3, waits until the file `gate` exists, then finishes (appending a
    line to the file `runs`, if given, each time it starts)."""
    if runs:
        with open(runs, "a") as out:
            out.write("ran\n")
    progress.start(task, 3, "Starting the gated task")
    progress.update(task, 1, 3, "Waiting for the gate")
    deadline = time.monotonic() + timeout
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            progress.fail(task, f"The gate {gate} never opened")
        time.sleep(0.05)
    progress.update(task, 2, 3, "Through the gate")
    return progress.finish(task, f"Passed the gate {gate}")


@register(FAILING)
def failing(task: Any, reason: str) -> dict[str, Any]:
    """Reports one step, then fails with `reason` as an InvalidState."""
    progress.start(task, 2, "About to fail")
    progress.fail(task, reason, InvalidState)


@register(ECHO)
def echo(task: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Finishes at once; its status names its arguments."""
    progress.start(task, 1, "Echoing")
    return progress.finish(task, f"args={list(args)!r} kwargs={kwargs!r}")


@register(COUNTED)
def counted(task: Any, path: str) -> dict[str, Any]:
    """Appends a line to the file `path` each time it runs (a side effect to count)."""
    progress.start(task, 1, "Counting")
    with open(path, "a") as out:
        out.write("ran\n")
    return progress.finish(task, f"Counted in {path}")
