"""Helpers of the task tests (this module holds no tests): a real `redis-server` and real
`pvcworkerd` processes, each started here and stopped by its pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from fastapi.testclient import TestClient

from pvc.tasks.app import make_app
from pvc.tasks.service import worker_name
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
TASK_MODULE = "tests.integration.tasks.bodies"


@dataclass
class RedisServer:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def start_redis(workdir: Path, replica_of: int | None = None) -> RedisServer:
    """A redis-server on loopback (a replica of the one on port `replica_of`)."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    log = open(workdir / f"redis-{port}.log", "wb")  # noqa: SIM115 (the process keeps it)
    replica = ["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--repl-diskless-sync-delay", "0", *replica],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    log.close()
    return _answering(RedisServer(proc, port), "redis-server")


def start_sentinel(workdir: Path, master_port: int, quorum: int = 2) -> RedisServer:
    """A Redis Sentinel on loopback watching the master `pvc` on `master_port`: down after
    1 s of silence, failover within 3 s."""
    port = free_port()
    conf = workdir / f"sentinel-{port}.conf"
    conf.write_text("\n".join([
        f"port {port}", "bind 127.0.0.1", f"dir {workdir}",
        f"sentinel monitor pvc 127.0.0.1 {master_port} {quorum}",
        "sentinel down-after-milliseconds pvc 1000", "sentinel failover-timeout pvc 3000",
    ]) + "\n")
    log = open(workdir / f"sentinel-{port}.log", "wb")  # noqa: SIM115 (the process keeps it)
    proc = subprocess.Popen([str(shutil.which("redis-server")), str(conf), "--sentinel"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return _answering(RedisServer(proc, port), "redis-sentinel")


def _answering(started: RedisServer, what: str) -> RedisServer:
    """`started` once it answers a PING (stopped, and an error, if it never does)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            started.client().ping()
            return started
        except redis.ConnectionError:
            if started.proc.poll() is not None or time.monotonic() > deadline:
                started.stop()
                raise RuntimeError(f"{what} did not start on port {started.port}") from None
            time.sleep(0.05)


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    node: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (a warm shutdown); SIGKILL to its own process group if it hangs."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this test started
            self.proc.wait(timeout=10)
            raise


    def crash(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a node crash would."""
        os.killpg(self.proc.pid, signal.SIGKILL)  # the group this test started
        self.proc.wait(timeout=10)


def worker_command() -> list[str]:
    script = Path(sys.executable).with_name("pvcworkerd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pvc.worker.main"]


def start_worker(redis_url: str, node: str, workdir: Path, config: Path | None = None,
                 timeout: float = 20.0, args: list[str] | None = None) -> Worker:
    """A `pvcworkerd --node NODE` running the test task bodies, once it answers a ping.
    It finds Redis in `config` (a pvc.conf) if given, else it is told `redis_url`. With
    `args`, those are its arguments (besides --node) instead."""
    log = workdir / f"worker-{node}.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["TMPDIR"] = str(workdir)  # a crashed worker's pool leaves its temporary files here
    if args is None:
        args = [*(["--config", str(config)] if config else ["--redis-url", redis_url]),
                "--include", TASK_MODULE]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*worker_command(), *args, "--node", node],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    worker = Worker(proc, node, log)
    app = make_app(redis_url=redis_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if app.control.ping(destination=[worker_name(node)], timeout=0.2):
                return worker
            if proc.poll() is not None or time.monotonic() > deadline:
                worker.stop()
                raise RuntimeError(f"pvcworkerd for {node} did not start:\n{worker.output()}")
    finally:
        app.close()


def poll_task(api: TestClient, task_id: str, until: Any, timeout: float = 15.0) -> dict[str, Any]:
    """GET /tasks/{id} until `until(body)` holds; the last body."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if until(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} stayed {body}")
        time.sleep(0.05)
