"""Helpers of the `pvc vm` CLI tests (this module holds no tests): a fake API that records
what it receives, and VM objects as the API returns them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

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
    form: list[tuple[str, str]]
    timeout: float | None


class FakeApi:
    """Answers per (method, path): a list is consumed in order (its last item repeats)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Any]] = {}
        self.seen: list[Seen] = []

    def on(self, method: str, path: str, *answers: Any) -> None:
        self.routes[(method, "/api/v1" + path)] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.read().decode()
        is_form = request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded")
        timeouts = request.extensions.get("timeout", {})
        self.seen.append(Seen(request.method, request.url.path,
                              list(request.url.params.multi_items()),
                              parse_qsl(body, keep_blank_values=True) if is_form else [],
                              timeouts.get("read")))
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return httpx.Response(404, json={"message": "no such route"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def requests(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        return [(s.method, s.path, s.query) for s in self.seen]



def run(api: FakeApi, tmp_path: Path, *args: str, stdin: str | None = None,
        unsafe: bool = False) -> Result:
    store = tmp_path / "pvc.json"
    store.write_text(json.dumps({"test": {"host": "10.0.0.250", "port": 7370, "scheme": "http",
                                          "api_key": "KEY", "description": "t"}}))
    t = FakeTime()
    state = CliState(store=store, transport=httpx.MockTransport(api), sleep=t.sleep,
                     clock=t.clock, wait_timeout=60.0)
    flags = ["-u"] if unsafe else []
    return CliRunner().invoke(cli, [*flags, "-c", "test", *args], obj=state, input=stdin)


XML = (
    "<domain type='kvm'><name>web1</name><uuid>6f1c1a52-3e0e-4d0a-9c6e-1a2b3c4d5e6f</uuid>"
    "<memory unit='MiB'>1024</memory><vcpu>2</vcpu>"
    "<cpu><topology sockets='1' cores='2' threads='1'/></cpu>"
    "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
    "<devices><emulator>/usr/bin/kvm</emulator>"
    "<interface type='bridge'><mac address='52:54:00:aa:bb:cc'/><source bridge='vmbr100'/>"
    "<model type='virtio'/></interface>"
    "<serial type='pty'><log file='/var/log/libvirt/web1.log'/></serial></devices></domain>"
)


def vm(name: str, state: str = "start", node: str = "hv1", last_node: str = "",
       tags: list[str] | None = None, vnis: list[str] | None = None,
       memory: int = 1024, vcpu: int = 2) -> dict[str, Any]:
    return {
        "name": name, "uuid": f"{name}-uuid", "description": f"{name} server", "profile": "",
        "state": state, "node": node, "last_node": last_node,
        "migrated": f"from {last_node}" if last_node else "no", "failed_reason": "",
        "memory": memory, "vcpu": vcpu, "vcpu_topology": f"1/{vcpu}/1",
        "vnc": {"listen": "127.0.0.1", "port": "5900"}, "type": "kvm", "arch": "x86_64",
        "machine": "pc", "emulator": "/usr/bin/kvm", "features": ["acpi", "apic"],
        "memory_stats": {"actual": 1048576, "rss": 500000},
        "vcpu_stats": {"cpu_time": 1000, "user_time": 600, "system_time": 300},
        "disks": [{"type": "rbd", "name": f"vms/{name}_sda", "dev": "sda", "bus": "scsi",
                   "rd_req": 5, "rd_bytes": 2048, "wr_req": 7, "wr_bytes": 4096, "errs": 0}],
        "networks": [{"type": "bridge", "source": f"vmbr{v}", "mac": "52:54:00:aa:bb:cc",
                      "model": "virtio", "vni": v, "rd_bytes": 11, "wr_bytes": 22,
                      "rd_packets": 1, "wr_packets": 2, "rd_errors": 0, "wr_errors": 0,
                      "rd_drops": 0, "wr_drops": 0} for v in (["100"] if vnis is None else vnis)],
        "controllers": [{"type": "scsi", "model": "virtio-scsi"}],
        "tags": [{"name": t, "type": "user", "protected": t == "prod"} for t in (tags or [])],
        "snapshots": [], "node_limit": ["hv1", "hv2"], "node_selector": "mem",
        "node_autostart": False, "migration_method": "live", "migration_max_downtime": 300,
        "xml": XML.replace("web1", name),
    }
