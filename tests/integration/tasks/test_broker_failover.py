"""The task broker survives the loss of its master: a real Redis master and replica, three
real Sentinels, Celery finding the master through them, and a real pvcworkerd."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pvc.tasks import broker as broker_start
from pvc.tasks import records, submit
from pvc.tasks.app import make_app
from tests.integration.tasks import bodies as task_bodies
from tests.integration.tasks.support import (
    RedisServer,
    start_redis,
    start_sentinel,
    start_worker,
)
from tests.integration.waiting import wait_until

pytestmark = pytest.mark.integration


@dataclass
class Broker:
    master: RedisServer
    replica: RedisServer
    sentinels: list[RedisServer]

    @property
    def url(self) -> str:
        return ";".join(f"sentinel://127.0.0.1:{s.port}/0" for s in self.sentinels)

    def master_port(self) -> set[int]:
        """The master's port as each Sentinel names it."""
        return {int(s.client().sentinel_get_master_addr_by_name("pvc")[1])
                for s in self.sentinels}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    started: list[RedisServer] = []
    try:
        master = start_redis(tmp_path)
        started.append(master)
        replica = start_redis(tmp_path, replica_of=master.port)
        started.append(replica)
        sentinels = [start_sentinel(tmp_path, master.port) for _ in range(3)]
        started += sentinels
        b = Broker(master, replica, sentinels)

        def all_known() -> bool:
            if replica.client().info("replication")["master_link_status"] != "up":
                return False
            return all(
                (m := s.client().sentinel_master("pvc"))["num-other-sentinels"] == 2
                and m["num-slaves"] == 1 for s in sentinels)

        wait_until("the Sentinels to know each other and the replica", all_known)
        yield b
    finally:
        for server in started:
            server.stop()


def test_a_queued_task_survives_the_loss_of_the_master(broker: Broker, tmp_path: Path) -> None:
    app = make_app(redis_url=broker.url)
    try:
        sent = submit.submit(app, task_bodies.ECHO, ["before"], run_on="hv7")
        # submit returned only once the replica held the message: no waiting here
        assert broker.replica.client().llen("hv7") == 1
        broker.master.stop()  # SIGKILL: the master is gone with whatever it alone held
        wait_until("the Sentinels to promote the replica",
                   lambda: broker.master_port() == {broker.replica.port})
        worker = start_worker(broker.url, "hv7", tmp_path)
        try:
            result = app.AsyncResult(sent["task_id"]).get(timeout=30)
            assert "args=['before']" in result["status"]
            after = submit.submit(app, task_bodies.ECHO, ["after"], run_on="hv7")
            assert "args=['after']" in app.AsyncResult(after["task_id"]).get(
                timeout=30)["status"]
            assert records.lookup(app, sent["task_id"])["task_name"] == task_bodies.ECHO  # type: ignore[index]
        finally:
            worker.stop()
    finally:
        app.close()


def test_a_replica_that_does_not_answer_delays_and_is_reported(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(submit, "REPLICA_WAIT", 0.5)
    app = make_app(redis_url=broker.url)
    os.kill(broker.replica.proc.pid, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="pvc.tasks.submit"):
            began = time.monotonic()
            sent = submit.submit(app, task_bodies.ECHO, [], run_on="hv8")
            assert time.monotonic() - began >= 0.5
        assert f"Task {sent['task_id']} is queued on the Redis master but no replica" in caplog.text
        assert broker.master.client().llen("hv8") == 1  # accepted all the same
    finally:
        os.kill(broker.replica.proc.pid, signal.SIGCONT)
        app.close()


def test_a_single_redis_has_no_replica_to_wait_for(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    single = start_redis(tmp_path)
    app = make_app(redis_url=single.url)
    try:
        sent = submit.submit(app, task_bodies.ECHO, [], run_on="hv9")
        assert submit.await_replica(app, sent["task_id"]) is None
    finally:
        app.close()
        single.stop()


def test_a_running_task_ends_once_the_master_is_lost(broker: Broker, tmp_path: Path) -> None:
    app = make_app(redis_url=broker.url)
    worker = start_worker(broker.url, "hv6", tmp_path)
    gate = tmp_path / "gate"
    try:
        sent = submit.submit(app, task_bodies.GATED, [str(gate)], run_on="hv6")
        result = app.AsyncResult(sent["task_id"])
        wait_until("the task to wait at its gate", lambda: result.state == "RUNNING"
                   and result.info.get("current") == 1)
        broker.master.stop()
        wait_until("the Sentinels to promote the replica",
                   lambda: broker.master_port() == {broker.replica.port})
        gate.touch()
        wait_until("the task to end", lambda: result.state in ("SUCCESS", "FAILURE"), 60)
        assert result.state == "SUCCESS", (result.state, result.info, worker.output()[-3000:])
        assert result.info["status"] == f"Passed the gate {gate}"
    finally:
        worker.stop()
        app.close()


def test_a_returning_redis_learns_the_master_from_the_sentinels(broker: Broker) -> None:
    addresses = [("127.0.0.1", s.port) for s in broker.sentinels]
    assert broker_start.current_master(addresses, "pvc", 3) == ("127.0.0.1", broker.master.port)
    broker.master.stop()
    wait_until("the Sentinels to promote the replica",
               lambda: broker.master_port() == {broker.replica.port})
    now = ("127.0.0.1", broker.replica.port)
    assert broker_start.current_master(addresses[1:], "pvc", 3) == now
    assert broker_start.current_master(addresses[2:], "pvc", 3) is None  # no majority
    old = ("127.0.0.1", broker.master.port)
    assert broker_start.redis_command("r.conf", old, now)[-3:] == [
        "--replicaof", "127.0.0.1", str(broker.replica.port)]
    assert "--replicaof" not in broker_start.redis_command("r.conf", now, now)
    assert "--replicaof" not in broker_start.redis_command("r.conf", old, None)
