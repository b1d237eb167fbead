"""`storage.benchmark` end to end: the API starts the job on the primary's worker, a real
`pvcworkerd` runs fio's rbd engine against a temporary volume in a real Ceph pool, stores
fio's figures in ZooKeeper and removes the volume; the CLI reads the result back."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc.cli.storage import benchmark_format as storage_bench_format
from pvc.ops.storage import pools as storage_pools
from pvc.ops.storage.benchmark import TESTS, BenchmarkOptions
from tests.integration.cephsupport import CephTestCluster
from tests.integration.tasks.ceph_support import NODE, TaskCluster, task_cluster
from tests.integration.tasks.support import poll_task

pytestmark = pytest.mark.integration

POOL = "benchpool"
GHOST = "ghostpool"  # known to PVC (in ZooKeeper) but not to Ceph
FINAL = ("SUCCESS", "FAILURE")
BENCH = "/api/v1/storage/ceph/benchmark"


@pytest.fixture(scope="module")
def tc(zk_server: str, ceph_cluster: CephTestCluster,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskCluster]:
    ceph_cluster.new_pool(POOL)
    with task_cluster(zk_server, ceph_cluster, tmp_path_factory.mktemp("bench")) as cluster:
        for pool in (POOL, GHOST):
            storage_pools.record_pool(cluster.store, pool, 8, "default", 1, 1)
        # one second per test on a small volume (PVC: a minute each on 64 GiB)
        cluster.api.app.state.benchmark_options = BenchmarkOptions(  # type: ignore[attr-defined]
            runtime=1, volume_size=256 * 1024**2)
        yield cluster


def jobs(tc: TaskCluster) -> list[str]:
    return sorted(tc.store.children("root.ceph.benchmarks"))


def bench_volumes(tc: TaskCluster, pool: str = POOL) -> list[str]:
    return [v for v in tc.storage.volume_names(pool) if v.startswith("pvcbench")]


def test_bad_requests_are_refused_and_change_nothing(tc: TaskCluster) -> None:
    empty = tc.api.get(BENCH)
    assert empty.status_code == 404 and empty.json()["message"] == "No benchmark found."
    for params, status, words in (
        ({"pool": "nosuchpool"}, 404, 'Pool "nosuchpool" not found'),
        ({"pool": "bad/pool"}, 400, "Invalid pool name"),
        ({}, 400, "pool"),
        ({"pool": POOL, "name": "bad name"}, 400, "Invalid benchmark job name"),
    ):
        response = tc.api.post(BENCH, params=params)
        assert response.status_code == status, response.text
        assert words in response.json()["message"]
    result = tc.pvc("storage", "benchmark", "run", "nosuchpool", "-y")
    assert result.exit_code != 0 and 'Pool "nosuchpool" not found' in result.output
    assert jobs(tc) == [] and bench_volumes(tc) == []
    assert tc.api.get(BENCH, params={"job": "nosuchjob"}).status_code == 404


def test_a_pool_missing_from_ceph_fails_the_job_cleanly(tc: TaskCluster) -> None:
    response = tc.api.post(BENCH, params={"pool": GHOST, "name": "ghost"})
    assert response.status_code == 202, response.text
    body = poll_task(tc.api, response.json()["task_id"], lambda b: b["state"] in FINAL,
                     timeout=30)
    assert body["state"] == "FAILURE"
    assert GHOST in body["status"], body
    assert jobs(tc) == []


def test_a_benchmark_runs_and_stores_pvc_results(tc: TaskCluster) -> None:
    started = tc.pvc("storage", "benchmark", "run", POOL, "-y")  # no name, no wait
    assert started.exit_code == 0, started.output
    assert f"(storage.benchmark) assigned to node {NODE}" in started.stdout
    task_id = started.stdout.split("Task ID: ")[1].split()[0]
    running = poll_task(tc.api, task_id, lambda b: "Running test" in b["status"]
                        or b["state"] in FINAL, timeout=30)
    assert running["state"] == "RUNNING", running
    assert running["total"] == len(TESTS) + 2
    # the job is named after the time it started (YYYYmmddHHMMSS), shown as running
    (name,) = jobs(tc)
    assert len(name) == 14 and name.isdigit()
    assert tc.api.get(BENCH).json() == [{"id": task_id, "job": name, "test_format": 1,
                                         "benchmark_result": "Running"}]
    assert len(bench_volumes(tc)) == 1
    # a second job of the same name is refused
    again = tc.api.post(BENCH, params={"pool": POOL, "name": name})
    assert again.status_code == 400 and "already exists" in again.json()["message"]

    body = poll_task(tc.api, task_id, lambda b: b["state"] in FINAL, timeout=60)
    assert body["state"] == "SUCCESS", body
    assert (body["current"], body["total"]) == (len(TESTS) + 2, len(TESTS) + 2)
    assert body["status"].startswith(f'Storage benchmark job "{name}" of pool {POOL} finished')
    assert bench_volumes(tc) == []

    response = tc.api.get(BENCH, params={"job": name})
    assert response.status_code == 200, response.text
    (job,) = response.json()
    assert job["job"] == name and job["id"] == task_id and job["test_format"] == 1
    result = job["benchmark_result"]
    assert set(result) == set(TESTS)
    for test, _label, direction in storage_bench_format.TESTS:
        assert result[test]["jobs"][0]["jobname"] == test
        figures = storage_bench_format.figures(result, test, direction)
        assert all(value is not None and value > 0 for value in figures.values()), \
            (test, figures)
    row = storage_bench_format.list_row(job)
    assert all(cell != storage_bench_format.NA for cell in row[2:]), row

    info = tc.pvc("storage", "benchmark", "info", name)
    assert info.exit_code == 0, info.output
    assert "Sequential write (4M blocks)" in info.stdout and "N/A" not in info.stdout
    listing = tc.pvc("storage", "benchmark", "list", "-f", "json")
    assert listing.exit_code == 0, listing.output
    assert [b["job"] for b in json.loads(listing.stdout)] == [name]
    assert "Traceback" not in tc.worker.output()


def fio_of(tc: TaskCluster, task_id: str) -> int | None:
    """The pid of the fio that the worker (this test's process tree) runs for the task."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if f"--rbdname=pvcbench_{task_id}".encode() not in cmdline:
            continue
        pool_process = int(stat.rsplit(")", 1)[1].split()[1])
        parent = Path(f"/proc/{pool_process}/stat").read_text()
        if int(parent.rsplit(")", 1)[1].split()[1]) == tc.worker.proc.pid:
            return int(entry.name)
    return None


def test_a_crashed_fio_fails_the_job_and_its_volume_goes(tc: TaskCluster) -> None:
    response = tc.api.post(BENCH, params={"pool": POOL, "name": "crashing"})
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    poll_task(tc.api, task_id, lambda b: "Running test" in b["status"], timeout=30)
    deadline = time.monotonic() + 10
    while (pid := fio_of(tc, task_id)) is None:
        assert time.monotonic() < deadline, "fio did not start"
        time.sleep(0.05)
    # it dies in the middle of writing: holding the volume's lock and watch
    while not tc.storage.lock_list(POOL, f"pvcbench_{task_id}"):
        assert time.monotonic() < deadline, "fio did not write"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # the fio our worker started for this task
    body = poll_task(tc.api, task_id, lambda b: b["state"] in FINAL, timeout=20)
    assert body["state"] == "FAILURE", body
    assert "fio test seq_write failed (exit -9)" in body["status"]
    assert "crashing" not in jobs(tc)
    assert bench_volumes(tc) == []


def test_a_job_whose_worker_died_is_run_again_to_one_result(tc: TaskCluster) -> None:
    """The worker dies (with its fio) in the middle of a test: the task, delivered again
    to the next worker, runs under the same job name, first removes the volume the dead
    run left (its lock broken), and ends with one job and no volume."""
    response = tc.api.post(BENCH, params={"pool": POOL, "name": "reborn"})
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    try:
        poll_task(tc.api, task_id, lambda b: "Running test" in b["status"], timeout=30)
        deadline = time.monotonic() + 10
        while not tc.storage.lock_list(POOL, f"pvcbench_{task_id}"):
            assert time.monotonic() < deadline, "fio did not write"
            time.sleep(0.05)
    finally:
        tc.worker.crash()
    assert bench_volumes(tc) == [f"pvcbench_{task_id}"] and "reborn" in jobs(tc)
    tc.worker = tc.new_worker()
    body = poll_task(tc.api, task_id, lambda b: b["state"] in FINAL, timeout=90)
    assert body["state"] == "SUCCESS", (body, tc.worker.output()[-3000:])
    assert body["status"].startswith('Storage benchmark job "reborn" of pool')
    assert "runs again: an earlier run was cut short" in tc.worker.output()
    assert bench_volumes(tc) == []
    (job,) = [j for j in tc.api.get(BENCH).json() if j["job"] == "reborn"]
    assert job["id"] == task_id and set(job["benchmark_result"]) == set(TESTS)
