"""Tasks end to end: a real Redis, a real `pvcworkerd` for node hv1, the API on ZooKeeper,
and the CLI's waiter on top."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from pvc.api.app import create_app
from pvc.api.tasks.router import TASK_ACCEPTED, TasksDep, task_accepted
from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.common.errors import InvalidState
from pvc.state.store import Store
from pvc.tasks import records, submit
from pvc.tasks.app import make_app
from tests.integration.api.support import HEADERS, make_config, raw_config
from tests.integration.tasks import bodies as task_bodies
from tests.integration.tasks.support import (
    RedisServer,
    Worker,
    free_port,
    poll_task,
    start_redis,
    start_worker,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tasks")


@pytest.fixture(scope="module")
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = start_redis(workdir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hv1_worker(redis_server: RedisServer, workdir: Path) -> Iterator[Worker]:
    worker = start_worker(redis_server.url, "hv1", workdir)
    try:
        yield worker
    finally:
        worker.stop()


def api_for(store: Store, redis_port: int) -> TestClient:
    """The API with its tasks on the Redis at `redis_port`, plus a test-only task-starting
    endpoint `POST /api/v1/testing/task?name=&run_on=&arg=` built like the real ones."""
    app = create_app(make_config(database={"keydb": {"hostname": "127.0.0.1",
                                                       "port": redis_port}}), store)
    router = APIRouter()

    @router.post("/api/v1/testing/task", responses=TASK_ACCEPTED)
    def start_task(tasks: TasksDep, name: str, run_on: str,
                   arg: Annotated[list[str] | None, Query()] = None) -> JSONResponse:
        return task_accepted(tasks.submit(name, arg or [], run_on=run_on))

    app.include_router(router)
    return TestClient(app, headers=HEADERS, raise_server_exceptions=False)


@pytest.fixture
def api(store: Store, redis_server: RedisServer, hv1_worker: Worker) -> TestClient:
    return api_for(store, redis_server.port)


def start(api: TestClient, name: str, run_on: str, *args: str) -> dict[str, Any]:
    response = api.post("/api/v1/testing/task", params={"name": name, "run_on": run_on,
                                                         "arg": list(args)})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def queued_ids(server: RedisServer, queue: str) -> list[str]:
    """The ids of the task messages waiting in a node's queue (a Redis list)."""
    return [json.loads(m)["headers"]["id"] for m in server.client().lrange(queue, 0, -1)]


def test_a_task_goes_to_its_node_and_succeeds(api: TestClient) -> None:
    task = start(api, task_bodies.ECHO, "hv1", "web1", "x y")
    assert set(task) == {"task_id", "task_name", "run_on"}
    assert task["task_name"] == "testing.echo" and task["run_on"] == "hv1"
    assert len(task["task_id"]) == 8 and int(task["task_id"], 16) >= 0
    body = poll_task(api, task["task_id"], lambda b: b["state"] == "SUCCESS")
    assert body["status"] == "args=['web1', 'x y'] kwargs={}"
    assert (body["current"], body["total"]) == (1, 1)
    assert body["result"] == {"current": 1, "total": 1, "status": body["status"]}
    assert body["run_on"] == "hv1"


def test_progress_is_visible_while_running_and_listed(api: TestClient, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    task = start(api, task_bodies.GATED, "hv1", str(gate))
    body = poll_task(api, task["task_id"], lambda b: b["current"] == 1)
    assert body["state"] == "RUNNING"
    assert (body["current"], body["total"], body["status"]) == (1, 3, "Waiting for the gate")
    assert "result" not in body
    listing = api.get("/api/v1/tasks")
    assert listing.status_code == 200, listing.text
    data = listing.json()
    assert set(data) == {"active", "reserved", "scheduled"}
    active = data["active"]["pvcworkerd@hv1"]
    assert {"id": task["task_id"], "name": "testing.gated", "args": repr([str(gate)]),
            "kwargs": "{}"} in active
    gate.touch()
    body = poll_task(api, task["task_id"], lambda b: b["state"] != "RUNNING")
    assert body["state"] == "SUCCESS"
    assert (body["current"], body["total"]) == (3, 3)
    assert body["status"] == f"Passed the gate {gate}"


def test_a_failing_task_ends_failure_with_its_message(api: TestClient) -> None:
    task = start(api, task_bodies.FAILING, "hv1", "The pool is full")
    body = poll_task(api, task["task_id"], lambda b: b["state"] in ("SUCCESS", "FAILURE"))
    assert body["state"] == "FAILURE"
    assert body["status"] == "The pool is full"
    assert body["error"] == "InvalidState"
    assert "result" not in body


def test_unknown_ids_are_404(api: TestClient) -> None:
    for task_id in ("0badf00d", "not-a-task-id"):
        response = api.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 404
        assert "not found" in response.json()["message"]
    refused = api.post("/api/v1/testing/task", params={"name": "no.such_task", "run_on": "hv1"})
    assert refused.status_code == 400
    assert "Unknown task" in refused.json()["message"]


def test_tasks_need_an_api_key(api: TestClient) -> None:
    assert api.get("/api/v1/tasks", headers={"X-Api-Key": "wrong"}).status_code == 401
    assert api.get("/api/v1/tasks/0badf00d", headers={"X-Api-Key": "wrong"}).status_code == 401


def test_a_worker_consumes_only_its_own_queue(api: TestClient, redis_server: RedisServer,
                                              workdir: Path) -> None:
    other = start(api, task_bodies.ECHO, "hv2", "for hv2")
    assert other["run_on"] == "hv2"
    mine = start(api, task_bodies.ECHO, "hv1", "for hv1")
    poll_task(api, mine["task_id"], lambda b: b["state"] == "SUCCESS")
    time.sleep(0.3)
    body = api.get(f"/api/v1/tasks/{other['task_id']}").json()
    assert body["state"] == "PENDING" and body["status"] == "Pending job start"
    assert other["task_id"] in queued_ids(redis_server, "hv2")
    # hv2's own worker (finding Redis in pvc.conf) takes it; SIGTERM stops it cleanly
    conf = workdir / "pvc.conf"
    conf.write_text(yaml.safe_dump(raw_config(database={"keydb": {
        "hostname": "127.0.0.1", "port": redis_server.port}})))
    hv2 = start_worker(redis_server.url, "hv2", workdir, config=conf)
    try:
        body = poll_task(api, other["task_id"], lambda b: b["state"] == "SUCCESS")
        assert body["status"] == "args=['for hv2'] kwargs={}"
    finally:
        code = hv2.stop()
    assert code == 0, hv2.output()
    assert "pvcworkerd for node hv2 stopped" in hv2.output()


def test_a_crashed_worker_does_not_lose_its_task(api: TestClient, redis_server: RedisServer,
                                                 workdir: Path, tmp_path: Path) -> None:
    hv3 = start_worker(redis_server.url, "hv3", workdir)
    gate = tmp_path / "gate"
    try:
        task = start(api, task_bodies.GATED, "hv3", str(gate))
        poll_task(api, task["task_id"], lambda b: b["current"] == 1)
    finally:
        hv3.crash()
    # acknowledged late: the message waits in Redis, unacknowledged, not failed
    unacked = [json.loads(v)[0]["headers"]["id"]
               for v in redis_server.client().hvals("unacked")]
    assert task["task_id"] in unacked
    assert api.get(f"/api/v1/tasks/{task['task_id']}").json()["state"] == "RUNNING"
    gate.touch()
    # the worker's next run takes it back at once (not after the hours-long visibility
    # timeout) and runs it again from the start
    hv3 = start_worker(redis_server.url, "hv3", workdir)
    try:
        body = poll_task(api, task["task_id"], lambda b: b["state"] == "SUCCESS")
        assert body["status"] == f"Passed the gate {gate}"
        assert "Gave back 1 unfinished task(s) of a previous run to queue hv3" in hv3.output()
        record = json.loads(redis_server.client().get(f"pvc:task:{task['task_id']}") or "{}")
        assert record["runs"] == 2  # the body was told that it runs again
        assert "runs again: an earlier run was cut short" in hv3.output()
        assert not redis_server.client().hvals("unacked")
    finally:
        assert hv3.stop() == 0


def test_a_task_delivered_again_after_it_finished_is_not_run_again(
        api: TestClient, redis_server: RedisServer, hv1_worker: Worker, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    task = start(api, task_bodies.COUNTED, "hv1", str(runs))
    first = poll_task(api, task["task_id"], lambda b: b["state"] == "SUCCESS")
    assert runs.read_text() == "ran\n"
    # the same message again, as after a broker failover or a worker that died between the
    # end of the body and its acknowledgement
    app = make_app(redis_url=redis_server.url)
    try:
        again = app.send_task(task_bodies.COUNTED, args=[str(runs)], task_id=task["task_id"],
                              queue="hv1", routing_key="hv1")
        assert again.get(timeout=20) == {"current": 1, "total": 1, "status": first["status"]}
    finally:
        app.close()
    assert runs.read_text() == "ran\n"
    said = f"Task {task['task_id']} ({task_bodies.COUNTED}) finished before"
    deadline = time.monotonic() + 10  # the pool process's log reaches the file a bit later
    while said not in hv1_worker.output():
        assert time.monotonic() < deadline, hv1_worker.output()[-2000:]
        time.sleep(0.1)


def test_a_task_delivered_again_while_it_runs_waits_for_it(
        api: TestClient, redis_server: RedisServer, hv1_worker: Worker, tmp_path: Path) -> None:
    """kombu hands a running task's message back when the broker connection drops; the
    second delivery must not run the body beside the first."""
    gate, runs = tmp_path / "gate", tmp_path / "runs"
    app = make_app(redis_url=redis_server.url)
    task_id = submit.new_task_id()
    try:
        records.record(app, task_id, {"task_name": task_bodies.GATED, "run_on": "hv1"})
        for _ in range(2):  # the second while the first waits at its gate
            delivery = app.send_task(task_bodies.GATED, args=[str(gate)],
                                     kwargs={"runs": str(runs)}, task_id=task_id,
                                     queue="hv1", routing_key="hv1")
            poll_task(api, task_id, lambda b: b["current"] == 1)
        said = f"Task {task_id} runs in another process here: waiting for it"
        deadline = time.monotonic() + 10
        while said not in hv1_worker.output():
            assert time.monotonic() < deadline, hv1_worker.output()[-2000:]
            time.sleep(0.1)
        gate.touch()
        assert delivery.get(timeout=20)["status"] == f"Passed the gate {gate}"
        assert runs.read_text() == "ran\n"
    finally:
        gate.touch()
        records.forget(app, task_id)
        app.close()


def test_the_cli_waits_for_a_task(api: TestClient, tmp_path: Path) -> None:
    store = tmp_path / "pvc.json"
    store.write_text(json.dumps({"t": {"host": "testserver", "port": 80, "scheme": "http",
                                       "api_key": HEADERS["X-Api-Key"]}}))

    def pvc(*args: str) -> Any:
        state = CliState(store=store, transport=api._transport)
        return CliRunner().invoke(cli, ["-c", "t", *args], obj=state)

    gate = tmp_path / "gate"
    task = start(api, task_bodies.GATED, "hv1", str(gate))
    threading.Timer(1.0, gate.touch).start()
    result = pvc("cluster", "task", task["task_id"], "--wait")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"SUCCESS: Passed the gate {gate}\n"
    assert f"Task ID: {task['task_id']} (testing.gated) assigned to node hv1" in result.stderr
    assert "3/3" in result.stderr
    failed = start(api, task_bodies.FAILING, "hv1", "No space left")
    result = pvc("cluster", "task", failed["task_id"], "--wait")
    assert result.exit_code == InvalidState.exit_code
    assert f"Task {failed['task_id']} (testing.failing) failed: No space left" in result.stderr
    result = pvc("cluster", "task", "-f", "json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {"active", "reserved", "scheduled"}


def test_without_redis_the_task_endpoints_answer_503(store: Store, workdir: Path) -> None:
    nothing = api_for(store, free_port())
    for path in ("/api/v1/tasks", "/api/v1/tasks/0badf00d"):
        started = time.monotonic()
        response = nothing.get(path)
        assert response.status_code == 503, response.text
        assert "Redis" in response.json()["message"]
        assert time.monotonic() - started < 3
    refused = nothing.post("/api/v1/testing/task",
                           params={"name": task_bodies.ECHO, "run_on": "hv1"})
    assert refused.status_code == 503
    # a Redis that goes away under a working API
    server = start_redis(workdir)
    try:
        api = api_for(store, server.port)
        assert api.get("/api/v1/tasks/0badf00d").status_code == 404
    finally:
        server.stop()
    started = time.monotonic()
    response = api.get("/api/v1/tasks/0badf00d")
    assert response.status_code == 503
    assert "unavailable" in response.json()["message"]
    assert api.get("/api/v1/tasks").status_code == 503
    assert time.monotonic() - started < 5


def test_the_client_reads_tasks_through_http(api: TestClient) -> None:
    from pvc.client import ApiClient, Connection
    from pvc.client.tasks.api import TasksApi

    client = ApiClient(Connection(name="t", host="testserver", port=80,
                                  api_key=HEADERS["X-Api-Key"]), transport=api._transport)
    task = start(api, task_bodies.ECHO, "hv1")
    tasks = TasksApi(client)
    deadline = time.monotonic() + 10
    while (status := tasks.task_status(task["task_id"]))["state"] != "SUCCESS":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["status"] == "args=[] kwargs={}"
    assert set(tasks.task_list()) == {"active", "reserved", "scheduled"}
    assert isinstance(api._transport, httpx.BaseTransport)
