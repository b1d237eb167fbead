"""`pvc connection ...`: the store through the CLI, list formats, detail."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli


def run(tmp_path: Path, *args: str, transport: httpx.BaseTransport | None = None) -> Result:
    env = {"PVC_CLIENT_DIR": str(tmp_path / "client"), "PVC_CONFIG_FILE": str(tmp_path / "none")}
    return CliRunner().invoke(cli, list(args), obj=CliState(transport=transport), env=env)


def store(tmp_path: Path) -> Path:
    return tmp_path / "client" / "pvc.json"


def test_add_list_remove(tmp_path: Path) -> None:
    added = run(
        tmp_path,
        "connection",
        "add",
        "prod",
        "-a",
        "10.0.0.250",
        "-d",
        "Production",
        "-k",
        "abc123XYZ",
        "--ssl",
    )
    assert added.exit_code == 0, added.output
    assert "Using connection" not in added.stderr  # no banner for connection commands
    path = store(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["prod"] == {
        "description": "Production",
        "host": "10.0.0.250",
        "port": 7370,
        "scheme": "https",
        "api_key": "abc123XYZ",
    }

    listed = json.loads(run(tmp_path, "connection", "list", "-f", "json").stdout)
    # "local" is skipped: its configuration file does not exist here
    assert listed == [
        {
            "name": "prod",
            "description": "Production",
            "address": "10.0.0.250",
            "port": 7370,
            "scheme": "https",
            "api_key": "xxxxxxxxx",
        }
    ]
    shown = json.loads(run(tmp_path, "connection", "list", "-k", "-f", "json").stdout)
    assert shown[0]["api_key"] == "abc123XYZ"

    pretty = run(tmp_path, "connection", "list").stdout.splitlines()
    assert pretty[0].split() == ["Name", "Description", "Address", "Port", "Scheme", "API", "Key"]
    assert pretty[1].split() == ["prod", "Production", "10.0.0.250", "7370", "https", "xxxxxxxxx"]
    assert run(tmp_path, "connection", "list", "-f", "raw").stdout == "prod\n"

    removed = run(tmp_path, "connection", "remove", "prod")
    assert removed.exit_code == 0
    assert "prod" not in json.loads(path.read_text())


def test_remove_unknown_is_an_error(tmp_path: Path) -> None:
    result = run(tmp_path, "connection", "remove", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith('Error: No connection "nope"')


def test_list_prometheus(tmp_path: Path) -> None:
    run(tmp_path, "connection", "add", "c1", "-a", "pvc1.example", "-p", "7371", "-d", "One")
    run(tmp_path, "connection", "add", "c2", "-a", "pvc2.example", "-d", "Two")
    result = run(tmp_path, "connection", "list", "-f", "json-prometheus")
    assert json.loads(result.stdout) == [
        {
            "targets": ["pvc1.example:7371"],
            "labels": {"job": "pvc", "pvc_cluster_name": "c1: One", "pvc_cluster_id": "c1"},
        },
        {
            "targets": ["pvc2.example:7370"],
            "labels": {"job": "pvc", "pvc_cluster_name": "c2: Two", "pvc_cluster_id": "c2"},
        },
    ]


def test_detail_queries_every_cluster(tmp_path: Path) -> None:
    run(tmp_path, "connection", "add", "up", "-a", "up.example", "-k", "K1")
    run(tmp_path, "connection", "add", "down", "-a", "down.example")
    status = {
        "cluster_health": {"health": 95, "messages": []},
        "maintenance": "false",
        "primary_node": "hv1",
        "pvc_version": "0.1.0",
        "nodes": {"total": 3},
        "vms": {"total": 5},
        "osds": {"total": 3},
        "networks": 1,
        "pools": 1,
        "volumes": 4,
        "snapshots": 0,
    }
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host} {request.headers.get('X-Api-Key')}")
        if request.url.host == "down.example":
            raise httpx.ConnectError("Name or service not known", request=request)
        return httpx.Response(200, json=status)

    result = run(
        tmp_path, "connection", "detail", "-f", "json", transport=httpx.MockTransport(handler)
    )
    assert result.exit_code == 0, result.output
    items = {i["name"]: i for i in json.loads(result.stdout)}
    assert items["up"]["health"] == 95
    assert items["up"]["nodes"] == 3 and items["up"]["vms"] == 5
    assert items["down"]["health"] == "N/A"
    assert "down" in result.stderr and "Cannot connect" in result.stderr
    assert seen == ["up.example K1", "down.example None"]  # no retries for detail


def test_invalid_port_is_refused_locally(tmp_path: Path) -> None:
    result = run(tmp_path, "connection", "add", "x", "-a", "h", "-p", "70000")
    assert result.exit_code == 2
    assert not store(tmp_path).exists()
