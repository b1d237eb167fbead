"""`pvc node ...` against a fake API: requests sent, output printed, --wait, log --follow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli
from tests.unit.fakes import FakeTime


class FakeApi:
    """Answers per (method, path): a list is consumed in order (its last item repeats)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Any]] = {}
        self.seen: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Any) -> None:
        self.routes[(method, "/api/v1" + path)] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return httpx.Response(404, json={"message": "no such route"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def requests(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        return [(r.method, r.url.path, list(r.url.params.multi_items())) for r in self.seen]


def run(api: FakeApi, tmp_path: Path, *args: str, time: FakeTime | None = None) -> Result:
    store = tmp_path / "pvc.json"
    store.write_text(
        json.dumps(
            {
                "test": {
                    "host": "10.0.0.250",
                    "port": 7370,
                    "scheme": "http",
                    "api_key": "KEY",
                    "description": "t",
                }
            }
        )
    )
    t = time or FakeTime()
    state = CliState(
        store=store,
        transport=httpx.MockTransport(api),
        sleep=t.sleep,
        clock=t.clock,
        wait_timeout=60.0,
    )
    return CliRunner().invoke(cli, ["-c", "test", *args], obj=state)


def node(name: str, coordinator: str, domain: str, health: Any, vms: int) -> dict[str, Any]:
    return {
        "name": name,
        "pvc_version": "0.1.0",
        "health": health,
        "health_details": [
            {
                "name": "disk",
                "health_delta": 100 - health if isinstance(health, int) else 0,
                "message": "Disk usage 93%",
                "last_run": 1700000000,
            },
            {"name": "load", "health_delta": 0, "message": "Load normal", "last_run": 1700000000},
        ],
        "daemon_state": "run",
        "coordinator_state": coordinator,
        "domain_state": domain,
        "domains_count": vms,
        "cpu_count": 8,
        "load": 0.25 * vms,
        "arch": "x86_64",
        "os": "Debian GNU/Linux 12",
        "kernel": "6.1.0-13-amd64",
        "vcpu": {"allocated": 2 * vms, "total": 8},
        "memory": {
            "total": 31906,
            "used": 5000 + 1000 * vms,
            "free": 26906 - 1000 * vms,
            "allocated": 1024 * vms,
            "provisioned": 2048 * vms,
        },
    }


NODES = [
    node("hv1", "primary", "ready", 100, 2),
    node("hv2", "secondary", "flushed", 90, 0),
    node("hv3", "secondary", "ready", "N/A", 3),
]


def test_list_sends_filters_and_prints_a_table(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/node", NODES)
    result = run(
        api, tmp_path, "node", "list", "hv", "-ds", "run", "-cs", "secondary", "-vs", "ready"
    )
    assert result.exit_code == 0, result.output
    assert api.requests() == [
        (
            "GET",
            "/api/v1/node",
            [
                ("limit", "hv"),
                ("daemon_state", "run"),
                ("coordinator_state", "secondary"),
                ("domain_state", "ready"),
            ],
        )
    ]
    assert api.seen[0].headers["X-Api-Key"] == "KEY"
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Nodes", "States", "Resources", "Memory", "(M)"]
    assert lines[1].split() == [
        "Name",
        "Version",
        "Health",
        "Daemon",
        "Coordinator",
        "Domain",
        "VMs",
        "vCPUs",
        "Load",
        "Total",
        "Used",
        "Free",
        "Alloc",
        "Prov",
    ]
    assert lines[2].split() == [
        "hv1",
        "0.1.0",
        "100%",
        "run",
        "primary",
        "ready",
        "2",
        "4",
        "0.50",
        "31906",
        "7000",
        "24906",
        "2048",
        "4096",
    ]
    assert lines[3].split()[:6] == ["hv2", "0.1.0", "90%", "run", "secondary", "flushed"]
    assert lines[4].split()[2] == "N/A"
    assert len(lines) == 5
    assert all(line == line.rstrip() for line in lines)
    assert "\x1b[" not in result.stdout  # no colour when not a terminal


def test_list_raw_and_json(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/node", NODES)
    raw = run(api, tmp_path, "node", "list", "-f", "raw")
    assert raw.stdout == "hv1\nhv2\nhv3\n"
    as_json = run(api, tmp_path, "node", "list", "-f", "json")
    assert json.loads(as_json.stdout) == NODES
    pretty = run(api, tmp_path, "node", "list", "-f", "json-pretty")
    assert json.loads(pretty.stdout) == NODES
    assert pretty.stdout.startswith("[\n  {")


def test_banner_on_stderr_and_quiet(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/node", NODES)
    result = run(api, tmp_path, "node", "list", "-f", "raw")
    assert result.stderr.splitlines()[0] == (
        'Using connection "test" - Host: "10.0.0.250" Scheme: "http" Prefix: "/api/v1"'
    )
    assert "Using connection" not in result.stdout
    quiet = CliRunner().invoke(
        cli,
        ["-q", "-c", "test", "node", "list", "-f", "raw"],
        obj=CliState(store=tmp_path / "pvc.json", transport=httpx.MockTransport(api)),
    )
    assert quiet.exit_code == 0
    assert quiet.stderr == ""


def test_info_pretty_and_long(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/node/hv2", [NODES[1]])  # the one-element list form
    pretty = run(api, tmp_path, "node", "info", "hv2")
    assert pretty.exit_code == 0, pretty.output
    text = pretty.stdout
    assert "Name:" in text and "hv2" in text
    assert "Health Issues:" in text and "disk (-10%): Disk usage 93%" in text
    assert "Load normal" not in text  # healthy plugins only in long
    assert "Architecture" not in text
    fields = dict(
        (k.strip(), v.strip())
        for k, v in (ln.split(":", 1) for ln in text.splitlines() if ":" in ln)
    )
    assert fields["Coordinator State"] == "secondary"
    assert fields["Domain State"] == "flushed"
    assert fields["Total RAM (MiB)"] == "31906"
    long = run(api, tmp_path, "node", "info", "hv2", "-f", "long").stdout
    assert "load (-0%): Load normal" in long
    assert "Kernel Version:" in long and "6.1.0-13-amd64" in long


def test_info_of_unknown_node_exits_2(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/node/ghost", httpx.Response(404, json={"message": "Node ghost not found."}))
    result = run(api, tmp_path, "node", "info", "ghost")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Node ghost not found."
    assert result.stdout == ""


def test_primary_without_wait(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/node/hv2/coordinator-state", {"message": "Setting node hv2 in primary."})
    result = run(api, tmp_path, "node", "primary", "hv2")
    assert result.exit_code == 0, result.output
    assert api.requests() == [
        ("POST", "/api/v1/node/hv2/coordinator-state", [("state", "primary")])
    ]
    assert result.stdout == "Setting node hv2 in primary.\n"


def test_primary_wait_polls_through_the_handover(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/node/hv2/coordinator-state", {"message": "Setting node hv2 in primary."})
    refused = httpx.ConnectError("Connection refused")
    api.on(
        "GET",
        "/node/hv2",
        [node("hv2", "secondary", "ready", 100, 0)],
        [node("hv2", "takeover", "ready", 100, 0)],
        refused,
        refused,
        refused,
        httpx.Response(503, json={"message": "no primary"}),
        [node("hv2", "takeover", "ready", 100, 0)],
        [node("hv2", "primary", "ready", 100, 0)],
        [node("hv2", "secondary", "ready", 100, 0)],
    )  # never reached
    result = run(api, tmp_path, "node", "primary", "hv2", "--wait")
    assert result.exit_code == 0, result.output
    gets = [r for r in api.seen if r.method == "GET"]
    assert len(gets) == 8
    assert result.stdout.splitlines() == [
        "Setting node hv2 in primary.",
        "Node hv2 is now a primary coordinator.",
    ]


def test_secondary_wait_skipped_when_already(tmp_path: Path) -> None:
    api = FakeApi()
    api.on(
        "POST",
        "/node/hv1/coordinator-state",
        {"message": "Node hv1 is already in secondary coordinator state."},
    )
    result = run(api, tmp_path, "node", "secondary", "hv1", "-w")
    assert result.exit_code == 0
    assert [r.method for r in api.seen] == ["POST"]


def test_wait_times_out_with_a_clear_error(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/node/hv1/coordinator-state", {"message": "Setting hv1 secondary."})
    api.on("GET", "/node/hv1", [node("hv1", "relinquish", "ready", 100, 0)])
    time = FakeTime()
    result = run(api, tmp_path, "node", "secondary", "hv1", "--wait", time=time)
    assert result.exit_code == 4
    assert "Timed out after 60 s waiting for node hv1" in result.stderr
    assert "(it is relinquish)" in result.stderr
    assert 60.0 <= time.now <= 62.0


def test_primary_refused_by_the_api(tmp_path: Path) -> None:
    api = FakeApi()
    api.on(
        "POST",
        "/node/hv4/coordinator-state",
        httpx.Response(400, json={"message": "Node hv4 is not a coordinator."}),
    )
    result = run(api, tmp_path, "node", "primary", "hv4", "--wait")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == "Error: Node hv4 is not a coordinator."
    assert "Traceback" not in result.output


def test_log_prints_the_lines(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/node/hv1/log", {"name": "hv1", "data": "a\nb\nc"})
    result = run(api, tmp_path, "node", "log", "hv1", "-l", "3")
    assert result.exit_code == 0
    assert result.stdout == "a\nb\nc\n"
    assert api.requests() == [("GET", "/api/v1/node/hv1/log", [("lines", "3")])]
    run(api, tmp_path, "node", "log", "hv1")
    assert api.requests()[-1][2] == [("lines", "1000")]


def test_log_follow_prints_only_new_lines(tmp_path: Path) -> None:
    api = FakeApi()
    api.on(
        "GET",
        "/node/hv1/log",
        {"name": "hv1", "data": "l1\nl2"},
        {"name": "hv1", "data": "l1\nl2\nl3"},
        httpx.ConnectError("Connection refused"),
        {"name": "hv1", "data": "l1\nl2\nl3\nl4\nl5"},
        {"name": "hv1", "data": "l1\nl2\nl3\nl4\nl5"},
    )
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > 4:
            raise KeyboardInterrupt

    state = CliState(
        store=tmp_path / "pvc.json",
        transport=httpx.MockTransport(api),
        sleep=sleep,
        clock=lambda: 0.0,
    )
    (tmp_path / "pvc.json").write_text(json.dumps({"test": {"host": "h", "port": 1}}))
    result = CliRunner().invoke(cli, ["-c", "test", "node", "log", "hv1", "-f"], obj=state)
    assert result.exit_code == 0, result.output
    assert result.stdout == "l1\nl2\nl3\nl4\nl5\n"
    params = [dict(r.url.params) for r in api.seen]
    assert params[0] == {"lines": "10"}
    assert all(p == {"lines": "200"} for p in params[1:])
