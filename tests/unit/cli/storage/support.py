"""Helpers of the `pvc storage` CLI tests (this module holds no tests): a fake API that
records each request with its raw body, and storage objects as the API returns them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli
from tests.unit.fakes import FakeTime


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    content_type: str
    body: bytes
    raw_path: bytes


class FakeApi:
    """Answers per (method, path) with a JSON body (200) or an `httpx.Response`."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Any] = {}
        self.sequences: dict[tuple[str, str], list[Any]] = {}
        self.seen: list[Seen] = []

    def on(self, method: str, path: str, answer: Any) -> None:
        self.routes[(method, "/api/v1" + path)] = answer

    def on_each(self, method: str, path: str, *answers: Any) -> None:
        """Successive answers of one route (the last one repeats)."""
        self.sequences[(method, "/api/v1" + path)] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(Seen(request.method, request.url.path,
                              list(request.url.params.multi_items()),
                              request.headers.get("content-type", ""), request.read(),
                              request.url.raw_path))
        key = (request.method, request.url.path)
        queue = self.sequences.get(key)
        answer = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else self.routes.get(key)
        if answer is None:
            return httpx.Response(404, json={"message": "no such route"})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def requests(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        return [(s.method, s.path.removeprefix("/api/v1"), s.query) for s in self.seen]


def run(api: FakeApi, tmp_path: Path, *args: str, stdin: str | None = None,
        unsafe: bool = False, quiet: bool = False) -> Result:
    store = tmp_path / "pvc.json"
    store.write_text(json.dumps({"test": {"host": "10.0.0.250", "port": 7370, "scheme": "http",
                                          "api_key": "KEY", "description": "t"}}))
    t = FakeTime()
    state = CliState(store=store, transport=httpx.MockTransport(api), sleep=t.sleep,
                     clock=t.clock)
    flags = (["-u"] if unsafe else []) + (["-q"] if quiet else [])
    return CliRunner().invoke(cli, [*flags, "-c", "test", *args], obj=state, input=stdin)


def task(task_id: str = "e15be83e", name: str = "osd.add", node: str = "hv2") -> httpx.Response:
    return httpx.Response(202, json={"task_id": task_id, "task_name": name, "run_on": node})


GIB = 1024**3


def osd(osd_id: str, node: str = "hv1", **stats: Any) -> dict[str, Any]:
    """An OSD as `GET /storage/ceph/osd` returns it (strings where the server has them)."""
    base: dict[str, Any] = {
        "node": node, "up": 1, "in": 1, "kb": 104857600, "pgs": 129, "weight": 0.0977,
        "reweight": 1.0, "used": str(12 * GIB), "avail": str(88 * GIB), "utilization": 12.0,
        "var": 1.0, "state": "exists,up", "uuid": f"uuid-{osd_id}", "primary_affinity": 1,
        "rd_ops": 1520, "rd_data": 3 * 1024**2, "wr_ops": 12, "wr_data": 512,
    }
    base.update(stats)
    return {"id": osd_id, "node": node, "device": "/dev/sdb", "db_device": "",
            "is_split": False, "stats": base}


def pool(name: str, pool_id: int, **stats: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": pool_id, "stored_bytes": 10 * GIB, "used_bytes": 30 * GIB,
        "free_bytes": 270 * GIB, "used_percent": 0.1, "num_objects": 2560,
        "num_object_clones": 0, "num_object_copies": 7680, "num_objects_degraded": 0,
        "num_objects_unfound": 0, "num_objects_missing_on_primary": 0,
        "read_ops": 123456, "read_bytes": 5 * GIB, "write_ops": 999, "write_bytes": 1536,
    }
    base.update(stats)
    return {"name": name, "tier": "default", "pgs": 128, "volume_count": 2, "stats": base}


def volume(pool_name: str, name: str, size: str = "20G", **stats: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": name, "size": size, "size_bytes": 20 * GIB,
                            "objects": 5120, "order": 22, "object_size": 4194304, "format": 2,
                            "features": ["layering", "exclusive-lock", "object-map"]}
    base.update(stats)
    return {"name": name, "pool": pool_name, "stats": base}
