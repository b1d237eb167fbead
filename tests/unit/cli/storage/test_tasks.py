"""Task-starting `pvc storage` commands (OSD add/replace/refresh/remove, DB VG, benchmark
run): the requests, the 202 answer printed as the task that started, and `--wait` handing
the task to the task waiter."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import httpx
import pytest

from pvc.client import ApiClient
from pvc.common.errors import InvalidState
from tests.unit.cli.storage.support import FakeApi, run, task

Q = list[tuple[str, str]]


@pytest.mark.parametrize(
    ("args", "method", "path", "query"),
    [
        (["osd", "add", "hv2", "/dev/sdb"], "POST", "/storage/ceph/osd",
         [("node", "hv2"), ("device", "/dev/sdb"), ("weight", "1.0")]),
        (["osd", "add", "hv2", "detect:INTEL:800GB:1", "-w", "0.73", "--ext-db-ratio", "0.05",
          "--osd-count", "2"], "POST", "/storage/ceph/osd",
         [("node", "hv2"), ("device", "detect:INTEL:800GB:1"), ("weight", "0.73"),
          ("ext_db_ratio", "0.05"), ("osd_count", "2")]),
        (["osd", "add", "hv2", "/dev/sdc", "--ext-db-size", "20G"], "POST", "/storage/ceph/osd",
         [("node", "hv2"), ("device", "/dev/sdc"), ("weight", "1.0"), ("ext_db_size", "20G")]),
        (["osd", "remove", "4"], "DELETE", "/storage/ceph/osd/4",
         [("force", "False"), ("yes-i-really-mean-it", "yes")]),
        (["osd", "remove", "4", "--force"], "DELETE", "/storage/ceph/osd/4",
         [("force", "True"), ("yes-i-really-mean-it", "yes")]),
        (["osd", "replace", "4", "/dev/sdd", "-o", "/dev/sdb", "-w", "2.0"], "POST",
         "/storage/ceph/osd/4",
         [("new_device", "/dev/sdd"), ("old_device", "/dev/sdb"), ("weight", "2.0")]),
        (["osd", "refresh", "4", "/dev/sdb"], "PUT", "/storage/ceph/osd/4",
         [("device", "/dev/sdb")]),
        (["osd", "create-db-vg", "hv2", "/dev/nvme0n1"], "POST", "/storage/ceph/osddb",
         [("node", "hv2"), ("device", "/dev/nvme0n1")]),
        (["benchmark", "run", "vms"], "POST", "/storage/ceph/benchmark", [("pool", "vms")]),
        (["benchmark", "run", "vms", "--name", "after-upgrade"], "POST",
         "/storage/ceph/benchmark", [("pool", "vms"), ("name", "after-upgrade")]),
    ],
)
def test_task_commands_print_the_started_task(
    tmp_path: Path, args: list[str], method: str, path: str, query: Q
) -> None:
    api = FakeApi()
    api.on(method, path, task("e15be83e", "osd.add", "hv2"))
    declined = run(api, tmp_path, "storage", *args, stdin="n\n")
    assert declined.exit_code == 0 and api.seen == []
    assert "Aborted." in declined.stderr
    result = run(api, tmp_path, "storage", *args, "-y")
    assert result.exit_code == 0, result.output
    assert api.requests() == [(method, path, query)]
    assert result.stdout == "Task ID: e15be83e (osd.add) assigned to node hv2\n"
    no_wait = run(api, tmp_path, "storage", *args, "-y", "--no-wait")
    assert no_wait.stdout == result.stdout


def test_the_confirmation_names_the_device(tmp_path: Path) -> None:
    api = FakeApi()
    result = run(api, tmp_path, "storage", "osd", "add", "hv2", "/dev/sdb", stdin="n\n")
    assert "Destroy all data on and create new OSD(s) on node hv2 device /dev/sdb" in (
        result.stderr)
    removal = run(api, tmp_path, "storage", "osd", "remove", "4", stdin="n\n")
    assert "Remove and destroy data on OSD 4" in removal.stderr
    assert api.seen == []


def test_only_one_external_db_option(tmp_path: Path) -> None:
    api = FakeApi()
    result = run(api, tmp_path, "storage", "osd", "add", "hv2", "/dev/sdb", "-y",
                 "--ext-db-ratio", "0.05", "--ext-db-size", "20G")
    assert result.exit_code == 2
    assert "at most one of -r/--ext-db-ratio and -s/--ext-db-size" in result.stderr
    assert api.seen == []
    ratio = run(api, tmp_path, "storage", "osd", "add", "hv2", "/dev/sdb", "-y", "-r", "1.5")
    assert ratio.exit_code == 2 and api.seen == []


def test_a_200_where_a_task_is_expected_is_a_failure(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/osd", {"message": "ok"})
    result = run(api, tmp_path, "storage", "osd", "add", "hv2", "/dev/sdb", "-y")
    assert result.exit_code == 7
    assert "HTTP 200" in result.stderr and result.stdout == ""


def test_a_refused_task_exits_with_the_message(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/osd", httpx.Response(
        400, json={"message": "Device /dev/sdb has a partition table; refusing"}))
    result = run(api, tmp_path, "storage", "osd", "add", "hv2", "/dev/sdb", "-y")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        "Error: Device /dev/sdb has a partition table; refusing")
    api.on("DELETE", "/storage/ceph/osd/9", httpx.Response(
        404, json={"message": "OSD 9 not found"}))
    missing = run(api, tmp_path, "storage", "osd", "remove", "9", "-y")
    assert missing.exit_code == 2


def test_a_202_without_a_task_id_is_a_failure(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/benchmark", httpx.Response(202, json={"message": "queued"}))
    result = run(api, tmp_path, "storage", "benchmark", "run", "vms", "-y")
    assert result.exit_code == 7
    assert "did not say which task" in result.stderr


@pytest.fixture
def waiter(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """A stand-in for `pvc.cli.cluster.tasks` that records what it is asked to wait for."""
    calls: list[tuple[Any, dict[str, Any]]] = []

    def wait_task(client: Any, started: dict[str, Any]) -> dict[str, Any]:
        calls.append((client, started))
        if started["task_id"] == "badbad00":
            raise InvalidState("OSD 4 is not safe to destroy")
        print("SUCCESS: Removed OSD 4")
        return {"state": "SUCCESS", "status": "Removed OSD 4"}

    module = types.ModuleType("pvc.cli.cluster.tasks")
    module.wait_task = wait_task  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pvc.cli.cluster.tasks", module)
    return calls


def test_wait_hands_the_task_to_the_waiter(
    tmp_path: Path, waiter: list[tuple[Any, dict[str, Any]]]
) -> None:
    api = FakeApi()
    api.on("DELETE", "/storage/ceph/osd/4", task("1a2b3c4d", "osd.remove", "hv3"))
    result = run(api, tmp_path, "storage", "osd", "remove", "4", "-y", "--wait")
    assert result.exit_code == 0, result.output
    assert result.stdout == "SUCCESS: Removed OSD 4\n"
    [(client, started)] = waiter
    assert isinstance(client, ApiClient)
    assert started == {"task_id": "1a2b3c4d", "task_name": "osd.remove", "run_on": "hv3"}


def test_a_failed_task_exits_with_its_error(
    tmp_path: Path, waiter: list[tuple[Any, dict[str, Any]]]
) -> None:
    api = FakeApi()
    api.on("DELETE", "/storage/ceph/osd/4", task("badbad00", "osd.remove", "hv3"))
    result = run(api, tmp_path, "storage", "osd", "remove", "4", "-y", "--wait")
    assert result.exit_code == 4
    assert result.stderr.splitlines()[-1] == "Error: OSD 4 is not safe to destroy"
    assert len(waiter) == 1


def test_wait_follows_the_task_with_the_real_waiter(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/osd", task("e15be83e", "osd.add", "hv2"))
    api.on_each("GET", "/tasks/e15be83e",
                {"state": "PENDING", "current": 0, "total": 1, "status": ""},
                {"state": "RUNNING", "current": 2, "total": 5, "status": "Preparing /dev/sdb"},
                {"state": "SUCCESS", "current": 5, "total": 5,
                 "status": "Created 1 new OSD(s) 4 on node hv2 block device /dev/sdb"})
    result = run(api, tmp_path, "storage", "osd", "add", "hv2", "/dev/sdb", "-y", "--wait")
    assert result.exit_code == 0, result.output
    assert "Task ID: e15be83e (osd.add) assigned to node hv2" in result.stderr
    assert result.stdout == (
        "SUCCESS: Created 1 new OSD(s) 4 on node hv2 block device /dev/sdb\n")
    assert [r[:2] for r in api.requests()] == [("POST", "/storage/ceph/osd")] + [
        ("GET", "/tasks/e15be83e")] * 3


def test_wait_on_a_failing_task_exits_non_zero(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/storage/ceph/benchmark", task("0badf00d", "storage.benchmark", "hv1"))
    api.on("GET", "/tasks/0badf00d", {"state": "FAILURE", "current": 1, "total": 8,
                                      "status": 'Pool "vms" not found', "error": "NotFound"})
    result = run(api, tmp_path, "storage", "benchmark", "run", "vms", "-y", "--wait")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        'Error: Task 0badf00d (storage.benchmark) failed: Pool "vms" not found')
    assert result.stdout == ""
