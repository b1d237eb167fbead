"""Options and helpers shared by the `pvc storage` commands."""

from __future__ import annotations

from typing import Any

import click

from pvc.cli.context import CliState
from pvc.cli.output import echo
from pvc.client.storage.api import StorageApi

YES = click.option(
    "-y", "--yes", "yes", is_flag=True, default=False, help="Pre-confirm this dangerous action."
)
# Task-starting commands (OSD add/replace/refresh/remove, DB VG, benchmark run).
TASK_WAIT = click.option(
    "--wait/--no-wait",
    "wait",
    default=False,
    show_default=True,
    help="Wait for the task to finish, showing its progress.",
)
LIST_FORMATS = ["pretty", "raw", "json", "json-pretty"]


def storage_api(state: CliState) -> StorageApi:
    """The storage endpoints of the selected connection (prints the banner)."""
    return StorageApi(state.api())


def task_started(task: dict[str, Any]) -> str:
    """The line that says which task a 202 answer started, and where."""
    return (
        f"Task ID: {task.get('task_id', '?')} ({task.get('task_name', '?')}) "
        f"assigned to node {task.get('run_on', '?')}"
    )


def follow_task(state: CliState, task: dict[str, Any], wait: bool) -> None:
    """After a 202: either say which task started, or wait for it (progress, result)."""
    if not wait:
        echo(task_started(task))
        return
    from pvc.cli.cluster.tasks import wait_task  # the task waiter lives beside the cluster commands

    wait_task(state.api(), task)
