"""`pvc cluster task` and `wait_task`, against a fake API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from pvc.cli.cluster.tasks import task_error, wait_task
from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.common.errors import BackendError, InvalidState
from tests.unit.cli.vm.support import FakeApi, run
from tests.unit.fakes import FakeTime

LISTING = {
    "active": {"pvcworkerd@hv1": [{"id": "e15be83e", "name": "osd.add",
                                   "args": "['hv1', '/dev/sdb']", "kwargs": "{'weight': 1.0}"}]},
    "reserved": {"pvcworkerd@hv1": []},
    "scheduled": {"pvcworkerd@hv2": [{"id": "0badf00d", "name": "vm.flush_locks",
                                      "args": "['web1']", "kwargs": "{}"}]},
}


def running(current: int, total: int, status: str, name: str = "osd.add",
            node: str = "hv1") -> dict[str, Any]:
    return {"state": "RUNNING", "current": current, "total": total, "status": status,
            "task_name": name, "run_on": node}


PENDING = {"state": "PENDING", "current": 0, "total": 1, "status": "Pending job start",
           "task_name": "osd.add", "run_on": "hv1"}
DONE = {"state": "SUCCESS", "current": 3, "total": 3, "status": "Added OSD 3 on /dev/sdb",
        "result": {"current": 3, "total": 3, "status": "Added OSD 3 on /dev/sdb"},
        "task_name": "osd.add", "run_on": "hv1"}


def test_task_list_pretty_and_json(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/tasks", LISTING)
    result = run(api, tmp_path, "cluster", "task")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "Type", "Worker", "Name", "Args", "Kwargs"]
    assert "e15be83e  active     pvcworkerd@hv1  osd.add" in lines[1]
    assert "['hv1', '/dev/sdb']" in lines[1]
    assert lines[2].startswith("0badf00d  scheduled  pvcworkerd@hv2  vm.flush_locks")
    result = run(api, tmp_path, "cluster", "task", "-f", "json")
    assert json.loads(result.stdout) == LISTING
    api.on("GET", "/tasks", {"active": None})
    result = run(api, tmp_path, "cluster", "task")
    assert result.stdout.strip() == "No tasks are active, reserved or scheduled."


def test_one_task_shows_its_state_and_progress(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/tasks/e15be83e", running(1, 3, "Creating the OSD"))
    result = run(api, tmp_path, "cluster", "task", "e15be83e")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Task ID:  e15be83e" in out
    assert "State:    RUNNING" in out
    assert "Progress: 1/3 (33%)" in out
    assert "Status:   Creating the OSD" in out
    result = run(api, tmp_path, "cluster", "task", "e15be83e", "-f", "json-pretty")
    assert json.loads(result.stdout)["current"] == 1


def test_unknown_task_exits_not_found(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/tasks/deadbeef",
           httpx.Response(404, json={"message": "Task deadbeef not found"}))
    result = run(api, tmp_path, "cluster", "task", "deadbeef")
    assert result.exit_code == 2
    assert "Error: Task deadbeef not found" in result.stderr


def test_wait_follows_the_task_to_success(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/tasks/e15be83e", PENDING, PENDING, running(1, 3, "Creating the OSD"),
           running(2, 3, "Adding it to the CRUSH map"), DONE)
    result = run(api, tmp_path, "cluster", "task", "e15be83e", "--wait")
    assert result.exit_code == 0, result.output
    assert result.stdout == "SUCCESS: Added OSD 3 on /dev/sdb\n"
    assert "Task ID: e15be83e (osd.add) assigned to node hv1" in result.stderr
    assert "Waiting for task to start... done." in result.stderr
    assert "3/3" in result.stderr  # the progress bar's last state
    polls = [r for r in api.requests() if r[1] == "/api/v1/tasks/e15be83e"]
    assert len(polls) == 5  # the first look, then each answer once


def test_wait_ends_with_the_task_error_and_its_exit_code(tmp_path: Path) -> None:
    api = FakeApi()
    failed = {"state": "FAILURE", "current": 1, "total": 1, "error": "InvalidState",
              "status": "VM web1 is running", "task_name": "vm.flush_locks", "run_on": "hv2"}
    api.on("GET", "/tasks/0badf00d", running(0, 2, "Looking", "vm.flush_locks", "hv2"),
           running(0, 2, "Looking", "vm.flush_locks", "hv2"), failed)
    result = run(api, tmp_path, "cluster", "task", "0badf00d", "--wait")
    assert result.exit_code == InvalidState.exit_code
    assert "Error: Task 0badf00d (vm.flush_locks) failed: VM web1 is running" in result.stderr
    assert "SUCCESS" not in result.stdout


def test_task_error_falls_back_to_backend_error() -> None:
    task = {"task_id": "e15be83e", "task_name": "osd.add"}
    err = task_error({"state": "FAILURE", "status": "boom", "error": "KeyError"}, task)
    assert type(err) is BackendError
    assert err.message == "Task e15be83e (osd.add) failed: boom"
    assert type(task_error({"error": "InvalidState", "status": "x"}, task)) is InvalidState


def test_wait_task_is_callable_by_other_commands(tmp_path: Path) -> None:
    """The storage commands call `wait_task(state.api(), task)` inside a Click command."""
    import click

    from pvc.cli.context import pass_state

    api = FakeApi()
    api.on("GET", "/tasks/e15be83e", running(1, 3, "Creating the OSD"), DONE)
    seen: list[dict[str, Any]] = []

    @click.command()
    @pass_state
    def start(state: CliState) -> None:
        seen.append(wait_task(state.api(), {"task_id": "e15be83e", "task_name": "osd.add",
                                            "run_on": "hv1"}))

    store = tmp_path / "pvc.json"
    store.write_text(json.dumps({"test": {"host": "h", "port": 7370, "scheme": "http"}}))
    t = FakeTime()
    state = CliState(connection="test", store=store, transport=httpx.MockTransport(api),
                     sleep=t.sleep, clock=t.clock)
    result = CliRunner().invoke(start, [], obj=state)
    assert result.exit_code == 0, result.output
    assert "Task ID: e15be83e (osd.add) assigned to node hv1" in result.stderr
    assert seen[0]["state"] == "SUCCESS"
    assert t.sleeps == [0.5]


def test_wait_task_rejects_a_body_without_a_task() -> None:
    with pytest.raises(BackendError):
        wait_task(None, {"message": "started"})  # type: ignore[arg-type]


def test_cluster_group_lists_the_task_command() -> None:
    result = CliRunner().invoke(cli, ["cluster", "--help"])
    assert "task" in result.output
