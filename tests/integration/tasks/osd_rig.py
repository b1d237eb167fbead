"""`Rig`: what the OSD task tests work with (their Ceph, ZooKeeper state, API, CLI, worker),
and its helpers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.devcluster.ceph.admin import CephAdmin
from pvc.node.services import DirectServices
from pvc.state.store import Store
from tests.integration import cephsupport
from tests.integration.api.support import HEADERS
from tests.integration.tasks.support import RedisServer, Worker

GiB = 1024**3


@dataclass
class Rig:
    ceph: cephsupport.CephTestCluster
    store: Store
    api: TestClient
    worker: Worker
    redis: RedisServer
    services: DirectServices
    workdir: Path
    new_worker: Callable[[], Worker]  # another pvcworkerd for hv1, as the first was started

    def admin(self) -> CephAdmin:
        return self.ceph.admin()

    def osd_ids(self) -> set[int]:
        with self.admin() as admin:
            return set(admin.osd_states())

    def submitted(self) -> int:
        """How many tasks were ever submitted (the API's records of task ids)."""
        return len(self.redis.client().keys("pvc:task:*"))

    def set_record(self, osd: str, record: dict[str, Any] | None) -> None:
        """Write (or with None, delete) the ZooKeeper record of an OSD."""
        if record is None:
            self.store.txn().delete_tree(self.store.path("osd", osd=osd)).commit()
        elif self.store.exists("osd", osd=osd):
            self.store.write("osd", record, osd=osd)
        else:
            self.store.txn().create("osd", record, osd=osd).commit()

    def records(self) -> list[str]:
        return sorted(self.store.children("root.ceph.osds"))

    def data_dirs(self) -> list[str]:
        return sorted(p.name for p in (self.ceph.workdir / "osd").iterdir())

    def device(self, name: str, size: int = 2 * GiB) -> Path:
        path = self.workdir / name
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def pvc(self, *args: str) -> Result:
        conns = self.workdir / "pvc.json"
        if not conns.exists():
            conns.write_text(json.dumps({"t": {"host": "testserver", "port": 80,
                                               "scheme": "http",
                                               "api_key": HEADERS["X-Api-Key"]}}))
        state = CliState(store=conns, transport=self.api._transport)
        return CliRunner().invoke(cli, ["-c", "t", *args], obj=state)

    def wait_task(self, task_id: str, timeout: float = 90.0) -> tuple[dict[str, Any], list[str]]:
        """The final body of a task, and every status it showed on the way."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            body = self.api.get(f"/api/v1/tasks/{task_id}").json()
            if not seen or seen[-1] != body["status"]:
                seen.append(body["status"])
            if body["state"] in ("SUCCESS", "FAILURE"):
                return body, seen
            assert time.monotonic() < deadline, f"task {task_id} stayed {body}"
            time.sleep(0.1)
