"""Exit codes and error lines of `pvc`, and the `local` connection from pvc.conf."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.cli.output import exit_code_for
from pvc.common import errors
from tests.unit.fakes import FakeTime


def run(tmp_path: Path, handler: Any, *args: str, env: dict[str, str] | None = None) -> Result:
    path = tmp_path / "pvc.json"
    if not path.exists():
        path.write_text(json.dumps({"t": {"host": "10.9.9.9", "port": 7370, "api_key": "K"}}))
    t = FakeTime()
    state = CliState(
        store=path, transport=httpx.MockTransport(handler), sleep=t.sleep, clock=t.clock
    )
    return CliRunner().invoke(cli, list(args), obj=state, env=env)


def answer(status: int, body: Any) -> Any:
    return lambda request: httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 5), (401, 8), (404, 2), (409, 4), (500, 7), (503, 9)],
)
def test_api_refusals_exit_with_the_mapped_code(tmp_path: Path, status: int, code: int) -> None:
    result = run(
        tmp_path,
        answer(status, {"message": f"refused {status}"}),
        "-c",
        "t",
        "cluster",
        "maintenance",
        "on",
    )
    assert result.exit_code == code
    assert result.stderr.splitlines()[-1] == f"Error: refused {status}"
    assert result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_unreachable_api(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    result = run(tmp_path, refuse, "-c", "t", "node", "list")
    assert result.exit_code == 9
    assert result.stderr.splitlines()[-1] == (
        "Error: Cannot connect to the API at http://10.9.9.9:7370/api/v1/node: "
        "[Errno 111] Connection refused"
    )
    assert "Traceback" not in result.output


def test_non_json_error_page_is_not_a_traceback(tmp_path: Path) -> None:
    page = lambda request: httpx.Response(405, text="<h1>Method Not Allowed</h1>")  # noqa: E731
    result = run(tmp_path, page, "-c", "t", "cluster", "maintenance", "off")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == "Error: HTTP 405 Method Not Allowed"


def test_unknown_connection(tmp_path: Path) -> None:
    result = run(tmp_path, answer(200, {}), "-c", "nope", "cluster", "status")
    assert result.exit_code == 2
    assert 'No connection "nope"' in result.stderr


def test_connection_from_environment(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"message": "ok"})

    result = run(tmp_path, handler, "cluster", "maintenance", "on", env={"PVC_CONNECTION": "t"})
    assert result.exit_code == 0, result.output
    assert seen == ["http://10.9.9.9:7370/api/v1/status?state=true"]


def test_local_connection_reads_pvc_conf(tmp_path: Path) -> None:
    nets = {
        name: {
            "device": f"eth{i}",
            "mtu": 1500,
            "domain": "d",
            "ipv4": {"network_address": f"10.{i}.0.0", "netmask": 24},
        }
        for i, name in enumerate(("upstream", "cluster", "storage"))
    }
    conf = tmp_path / "pvc.conf"
    conf.write_text(
        yaml.safe_dump(
            {
                "cluster": {
                    "name": "c",
                    "all_nodes": ["hv1"],
                    "coordinator_nodes": ["hv1"],
                    "networks": nets,
                },
                "api": {
                    "listen": {"address": "0.0.0.0", "port": 7370},
                    "authentication": {"enabled": True, "source": "token"},
                    "token": [{"description": "a", "token": "first-token"}],
                    "ssl": {"enabled": False},
                },
            }
        )
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    (tmp_path / "pvc.json").write_text("{}")
    result = run(tmp_path, handler, "node", "list", env={"PVC_CONFIG_FILE": str(conf)})
    assert result.exit_code == 0, result.output
    assert str(seen[0].url) == "http://127.0.0.1:7370/api/v1/node"
    assert seen[0].headers["X-Api-Key"] == "first-token"
    assert result.stderr.startswith('Using connection "local" - Host: "127.0.0.1"')


def test_missing_local_config(tmp_path: Path) -> None:
    (tmp_path / "pvc.json").write_text("{}")
    result = run(
        tmp_path,
        answer(200, {}),
        "cluster",
        "status",
        env={"PVC_CONFIG_FILE": str(tmp_path / "absent.conf")},
    )
    assert result.exit_code == 2
    assert "no PVC configuration at" in result.stderr


def test_exit_code_table() -> None:
    assert [
        exit_code_for(cls("m"))
        for cls in (
            errors.NotFound,
            errors.AlreadyExists,
            errors.InvalidState,
            errors.InvalidArgument,
            errors.Conflict,
            errors.BackendError,
            errors.Unauthorized,
            errors.Unavailable,
            errors.PVCError,
        )
    ] == [2, 3, 4, 5, 6, 7, 8, 9, 1]
    assert exit_code_for(RuntimeError("x")) == 1


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "version" in result.stdout


@pytest.mark.parametrize(("args", "env", "seconds"), [
    ((), None, 30.0),
    (("--timeout", "300"), None, 300.0),
    ((), {"PVC_TIMEOUT": "45"}, 45.0),
])
def test_the_wait_for_each_answer_is_the_timeout_option(
        tmp_path: Path, args: tuple[str, ...], env: dict[str, str] | None,
        seconds: float) -> None:
    read: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        read.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json=[])

    result = run(tmp_path, handler, *args, "-c", "t", "node", "list", env=env)
    assert result.exit_code == 0, result.output
    assert read == [seconds]


@pytest.mark.parametrize("value", ["0", "-5", "soon", "4000"])
def test_a_bad_timeout_is_refused_before_any_request(tmp_path: Path, value: str) -> None:
    asked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json=[])

    result = run(tmp_path, handler, "--timeout", value, "-c", "t", "node", "list")
    assert result.exit_code == 2
    assert "--timeout" in result.stderr and asked == []
