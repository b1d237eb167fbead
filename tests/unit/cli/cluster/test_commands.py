"""`pvc cluster ...` against a fake API: requests sent, output, confirmations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli

STATUS: dict[str, Any] = {
    "cluster_name": "test",
    "cluster_health": {
        "health": 75,
        "messages": [
            {"id": "a3f1c2", "health_delta": 10, "text": "Node hv2 is flushed"},
            {"id": "9bd4e0", "health_delta": 15, "text": "OSD 2 is down"},
        ],
    },
    "node_health": {"hv1": {"health": 100, "messages": []}},
    "maintenance": "false",
    "primary_node": "hv1",
    "pvc_version": "0.1.0",
    "upstream_ip": "10.0.0.254",
    "nodes": {"run,ready": 2, "run,flushed": 1, "total": 3},
    "vms": {"start": 6, "stop": 1, "total": 7},
    "osds": {"up,in": 2, "down,out": 1, "total": 3},
    "networks": 2,
    "pools": 1,
    "volumes": 7,
    "snapshots": 3,
    "resources": {
        "cpu": {"total": 24, "load": 1.5, "utilization": 6.25},
        "memory": {"total": 96 * 1024, "used": 24 * 1024, "utilization": 25.0},
        "disk": {"total": 300 * 1024 * 1024, "used": 60 * 1024 * 1024, "utilization": 20.0},
    },
}


class FakeApi:
    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = {(m, "/api/v1" + p): a for (m, p), a in answers.items()}
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request)
        answer = self.answers.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"message": "no such route"})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)


def run(api: FakeApi, tmp_path: Path, *args: str, input: str | None = None) -> Result:
    store = tmp_path / "pvc.json"
    store.write_text(
        json.dumps(
            {
                "c1": {
                    "host": "pvc.example",
                    "port": 7370,
                    "scheme": "https",
                    "api_key": "K",
                    "description": "",
                }
            }
        )
    )
    state = CliState(store=store, transport=httpx.MockTransport(api))
    return CliRunner().invoke(cli, ["-c", "c1", *args], obj=state, input=input)


def kv(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith(" "):
            key, value = line.split(":", 1)
            out[key] = value.strip()
    return out


def test_status_pretty(tmp_path: Path) -> None:
    api = FakeApi({("GET", "/status"): STATUS})
    result = run(api, tmp_path, "cluster", "status")
    assert result.exit_code == 0, result.output
    assert str(api.seen[0].url) == "https://pvc.example:7370/api/v1/status"
    fields = kv(result.stdout)
    assert fields["Primary node"] == "hv1"
    assert fields["PVC version"] == "0.1.0"
    assert fields["Upstream IP"] == "10.0.0.254"
    assert fields["Health"] == "75%"
    assert fields["Active faults"] == "a3f1c2 (-10%) Node hv2 is flushed"
    lines = result.stdout.splitlines()
    at = lines[5].index("a3f1c2")
    assert lines[6] == " " * at + "9bd4e0 (-15%) OSD 2 is down"  # aligned continuation
    assert fields["Nodes"] == "2/3 run,ready, 1/3 run,flushed"
    assert fields["VMs"] == "6/7 start, 1/7 stop"
    assert fields["OSDs"] == "2/3 up,in, 1/3 down,out"
    assert (fields["Pools"], fields["Volumes"], fields["Snapshots"], fields["Networks"]) == (
        "1",
        "7",
        "3",
        "2",
    )
    assert fields["Total CPU"] == "6.2% (1.5 / 24)"
    assert fields["Total memory"] == "25.0% (24.0 GiB / 96.0 GiB)"
    assert fields["Total disk"] == "20.0% (60.0 GiB / 300.0 GiB)"


def test_status_minimal_body_and_maintenance(tmp_path: Path) -> None:
    body = {"maintenance": "true", "cluster_health": {"health": 100, "messages": []}}
    result = run(FakeApi({("GET", "/status"): body}), tmp_path, "cluster", "status")
    assert result.exit_code == 0, result.output
    fields = kv(result.stdout)
    assert fields["Health"] == "100% (maintenance on)"
    assert fields["Active faults"] == "None"
    assert "Total CPU" not in fields  # resources only when the API gives them


def test_status_short_and_json(tmp_path: Path) -> None:
    api = FakeApi({("GET", "/status"): STATUS})
    short = kv(run(api, tmp_path, "cluster", "status", "-f", "short").stdout)
    assert set(short) == {"Health", "Active faults", "CPU usage", "Memory usage", "Disk usage"}
    assert json.loads(run(api, tmp_path, "cluster", "status", "-f", "json").stdout) == STATUS


def test_maintenance_on_off(tmp_path: Path) -> None:
    api = FakeApi({("POST", "/status"): {"message": "Set cluster maintenance mode."}})
    on = run(api, tmp_path, "cluster", "maintenance", "on")
    off = run(api, tmp_path, "cluster", "maintenance", "off")
    assert (on.exit_code, off.exit_code) == (0, 0)
    assert on.stdout == "Set cluster maintenance mode.\n"
    assert [str(r.url.query, "ascii") for r in api.seen] == ["state=true", "state=false"]


def test_backup_to_stdout_and_file(tmp_path: Path) -> None:
    data = {"/nodes": {"hv1": "x"}, "/domains": {}}
    api = FakeApi({("GET", "/backup"): json.dumps(data)})
    out = run(api, tmp_path, "cluster", "backup")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == data
    target = tmp_path / "backup.json"
    to_file = run(api, tmp_path, "cluster", "backup", "-f", str(target))
    assert to_file.exit_code == 0, to_file.output
    assert json.loads(target.read_text()) == data
    assert str(target) in to_file.stdout


def test_restore_sends_the_file_as_form_data(tmp_path: Path) -> None:
    backup = tmp_path / "b.json"
    backup.write_text('{"/nodes": {}}')
    api = FakeApi({("POST", "/restore"): {"message": "Restore completed."}})
    result = run(api, tmp_path, "cluster", "restore", "-f", str(backup), "-y")
    assert result.exit_code == 0, result.output
    (req,) = api.seen
    assert list(req.url.params.multi_items()) == [("yes-i-really-mean-it", "yes")]
    assert parse_qsl(req.content.decode()) == [("cluster_data", '{"/nodes": {}}')]
    assert result.stdout == "Restore completed.\n"


def test_restore_asks_first_and_sends_nothing_when_declined(tmp_path: Path) -> None:
    backup = tmp_path / "b.json"
    backup.write_text("{}")
    api = FakeApi({("POST", "/restore"): {"message": "done"}})
    declined = run(api, tmp_path, "cluster", "restore", "-f", str(backup), input="n\n")
    assert declined.exit_code == 0
    assert "Aborted." in declined.stderr
    assert api.seen == []
    accepted = run(api, tmp_path, "cluster", "restore", "-f", str(backup), input="y\n")
    assert accepted.exit_code == 0
    assert len(api.seen) == 1


def test_unsafe_skips_the_confirmation(tmp_path: Path) -> None:
    backup = tmp_path / "b.json"
    backup.write_text("{}")
    api = FakeApi({("POST", "/restore"): {"message": "done"}})
    state = CliState(store=tmp_path / "pvc.json", transport=httpx.MockTransport(api))
    (tmp_path / "pvc.json").write_text(json.dumps({"c1": {"host": "h", "port": 1}}))
    result = CliRunner().invoke(
        cli,
        ["-c", "c1", "cluster", "restore", "-f", str(backup)],
        obj=state,
        env={"PVC_UNSAFE": "1"},
    )
    assert result.exit_code == 0, result.output
    assert len(api.seen) == 1


def test_restore_bad_input_is_caught_locally(tmp_path: Path) -> None:
    api = FakeApi({})
    missing = run(api, tmp_path, "cluster", "restore", "-f", str(tmp_path / "nope"), "-y")
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    garbage = tmp_path / "g.json"
    garbage.write_text("not json")
    bad = run(api, tmp_path, "cluster", "restore", "-f", str(garbage), "-y")
    assert bad.exit_code == 5
    assert "is not a JSON cluster backup" in bad.stderr
    assert api.seen == []


def test_init_overwrite(tmp_path: Path) -> None:
    api = FakeApi({("POST", "/initialize"): {"message": "Successfully initialized."}})
    result = run(api, tmp_path, "cluster", "init", "--overwrite", "-y")
    assert result.exit_code == 0, result.output
    assert list(api.seen[0].url.params.multi_items()) == [
        ("overwrite", "True"),
        ("yes-i-really-mean-it", "yes"),
    ]
    plain = run(api, tmp_path, "cluster", "init", "-y")
    assert plain.exit_code == 0
    assert api.seen[1].url.params["overwrite"] == "False"


def test_init_declined_on_closed_stdin(tmp_path: Path) -> None:
    api = FakeApi({("POST", "/initialize"): {"message": "ok"}})
    result = run(api, tmp_path, "cluster", "init")
    assert "Aborted." in result.stderr
    assert api.seen == []
