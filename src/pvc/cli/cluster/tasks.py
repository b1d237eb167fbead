"""Worker tasks in the CLI: `wait_task` (what task-starting commands do with `--wait`) and
`pvc cluster task [TASK_ID]`.

`wait_task` says which task started and where (stderr), waits for it to leave PENDING,
shows a progress bar (current/total and the task's status text, on stderr) while it runs,
then prints `SUCCESS: <status>` on stdout, or raises the task's error (the class the API
names, else BackendError) so `pvc` exits non-zero with the task's message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn
from rich.text import Text

from pvc.cli import render
from pvc.cli.context import CliState, pass_state
from pvc.cli.output import console, echo, emit, format_option, info
from pvc.client.http import HttpClient
from pvc.client.tasks.api import TASK_SECTIONS, TasksApi, task_from_body
from pvc.common import errors
from pvc.common.errors import BackendError, NotFound, PVCError, Unavailable

POLL_INTERVAL = 0.5  # seconds between two polls of a task
UNREACHABLE_WINDOW = 120.0  # seconds the API may stay unreachable (a primary handover)
FINAL = ("SUCCESS", "FAILURE")
STATE_STYLES = {"PENDING": render.NOTE, "RUNNING": render.OTHER, "SUCCESS": render.GOOD,
                "FAILURE": render.BAD}


def _state() -> CliState | None:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(CliState) if ctx is not None else None
    return obj if isinstance(obj, CliState) else None


def _quiet() -> bool:
    state = _state()
    return bool(state and state.quiet)


def task_error(status: dict[str, Any], task: dict[str, Any]) -> PVCError:
    """The error a failed task ends `pvc` with: the class the API named, if it is one of
    ours, else BackendError; the message names the task and says why it failed."""
    name = status.get("error")
    cls = getattr(errors, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, PVCError)):
        cls = BackendError
    reason = status.get("status") or "no reason given"
    return cls(f"Task {task.get('task_id')} ({task.get('task_name', '?')}) failed: {reason}")


class _Poller:
    """Polls one task, riding out an API that is briefly unreachable."""

    def __init__(self, api: TasksApi, task_id: str, sleep: Callable[[float], None],
                 clock: Callable[[], float], interval: float) -> None:
        self.api = api
        self.task_id = task_id
        self.sleep = sleep
        self.clock = clock
        self.interval = interval
        self._noted = False

    def poll(self) -> dict[str, Any]:
        deadline: float | None = None
        while True:
            try:
                return self.api.task_status(self.task_id)
            except NotFound as exc:
                raise NotFound(f"Task {self.task_id} not found: {exc.message}") from exc
            except (Unavailable, BackendError) as exc:
                now = self.clock()
                deadline = now + UNREACHABLE_WINDOW if deadline is None else deadline
                if now >= deadline:
                    raise
                if not self._noted:
                    info(f"(waiting for the API: {exc.message})")
                    self._noted = True
            self.sleep(self.interval)

    def next(self) -> dict[str, Any]:
        """The task's status after one poll interval."""
        self.sleep(self.interval)
        return self.poll()


BAR_WIDTH = 30


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=BAR_WIDTH),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[message]}"),
        console=console(err=True),
        disable=_quiet(),
        transient=False,
    )


def _fit(bar: Progress, name: str, status: dict[str, Any]) -> str:
    """The status text, shortened so the whole bar stays on one line (rich would rather
    squeeze the other columns)."""
    counts = len(f"{status['total']}/{status['total']}") + len(" 100%")
    room = bar.console.width - len(name) - BAR_WIDTH - counts - 5  # the gaps
    text = str(status["status"])
    if len(text) <= room:
        return text
    return text[: max(room - 1, 10)] + "…"


def wait_task(client: HttpClient, task: dict[str, Any], *, interval: float = POLL_INTERVAL,
              sleep: Callable[[float], None] | None = None,
              clock: Callable[[], float] | None = None) -> dict[str, Any]:
    """Wait for a started task (a 202 body) to end; its last status on success."""
    started = task_from_body(task)
    state = _state()
    sleep = sleep or (state.sleep if state else time.sleep)
    clock = clock or (state.clock if state else time.monotonic)
    poller = _Poller(TasksApi(client), started["task_id"], sleep, clock, interval)
    info(f"Task ID: {started['task_id']} ({started['task_name']}) assigned to node "
         f"{started['run_on']}")
    quiet = _quiet()
    if not quiet:
        click.echo("Waiting for task to start...", nl=False, err=True)
    try:
        status = poller.poll()
        while status["state"] == "PENDING":
            status = poller.next()
        if not quiet:
            click.echo(" done.", err=True)
        if status["state"] not in FINAL:
            name = started["task_name"] or "task"
            with _progress_bar() as bar:
                bar_id = bar.add_task(name, total=status["total"], completed=status["current"],
                                      message=_fit(bar, name, status))
                while status["state"] not in FINAL:
                    status = poller.next()
                    bar.update(bar_id, total=status["total"], completed=status["current"],
                               message=_fit(bar, name, status))
                if status["state"] == "SUCCESS":
                    bar.update(bar_id, completed=status["total"])
    except KeyboardInterrupt:
        info(f"\nStopped waiting; the task goes on (see `pvc cluster task "
             f"{started['task_id']}`).")
        raise click.Abort() from None
    if status["state"] != "SUCCESS":
        raise task_error(status, started)
    echo(f"SUCCESS: {status['status']}")
    return status


# -- pvc cluster task ----------------------------------------------------------------------
def _literal(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def tasks_pretty(listing: dict[str, Any]) -> list[Text] | str:
    """One row per task: its ID, type (active/reserved/scheduled), worker, name, args."""
    rows: list[list[render.Cell]] = []
    for section in TASK_SECTIONS:
        for worker, tasks in sorted((listing.get(section) or {}).items()):
            for t in tasks:
                rows.append([str(t.get("id", "")), section, str(worker), str(t.get("name", "")),
                             _literal(t.get("args", "")), _literal(t.get("kwargs", ""))])
    if not rows:
        return "No tasks are active, reserved or scheduled."
    columns = [render.Column(h) for h in ("ID", "Type", "Worker", "Name", "Args", "Kwargs")]
    return render.table(columns, rows)


def task_pretty(status: dict[str, Any]) -> list[Text]:
    """One task: ID, name, node, state, progress, status (and its result)."""
    state = str(status.get("state", ""))
    total = max(1, int(status.get("total", 1) or 1))
    current = int(status.get("current", 0) or 0)
    pairs: list[tuple[str, render.Cell | list[render.Cell]]] = [
        ("Task ID", str(status.get("task_id", ""))),
    ]
    if status.get("task_name"):
        pairs.append(("Name", str(status["task_name"])))
    if status.get("run_on"):
        pairs.append(("Node", str(status["run_on"])))
    pairs += [
        ("State", render.cell(state, STATE_STYLES.get(state))),
        ("Progress", f"{current}/{total} ({100 * current // total}%)"),
        ("Status", str(status.get("status", ""))),
    ]
    result = status.get("result")
    if state == "SUCCESS" and result is not None and not (
        isinstance(result, dict) and set(result) <= {"current", "total", "status"}
    ):
        pairs.append(("Result", json.dumps(result)))
    return render.kv_block(pairs)


@click.command(name="task")
@click.argument("task_id", required=False)
@click.option("-w/-W", "--wait/--no-wait", "wait", default=False, show_default=True,
              help="With a TASK_ID: follow the task to its end, with a progress bar.")
@format_option(["pretty", "json", "json-pretty"])
@pass_state
def cluster_task(state: CliState, task_id: str | None, wait: bool, output_format: str) -> None:
    """Show the worker tasks of the cluster, or the status of task TASK_ID.

    \b
    Without TASK_ID: the tasks each node's worker is running (active), holds (reserved)
    and has scheduled. With TASK_ID: its state, progress and status; with --wait, follow
    it until it ends instead (a progress bar, then its result; the exit code is non-zero
    if it failed).
    """
    api = TasksApi(state.api())
    if task_id is None:
        if wait:
            raise click.UsageError("--wait needs a TASK_ID")
        emit(api.task_list(), output_format, tasks_pretty)
        return
    status = api.task_status(task_id)
    status.setdefault("task_id", task_id)
    if not wait:
        emit(status, output_format, task_pretty)
        return
    wait_task(state.api(), {"task_id": task_id, "task_name": status.get("task_name") or "task",
                            "run_on": status.get("run_on") or "?"})
