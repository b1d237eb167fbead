"""`pvc cluster fault ...` against a fake API: requests sent, output, confirmations."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import httpx

from tests.unit.cli.cluster.test_commands import FakeApi, run

FAULTS = [
    {"id": "DEAD_NODE_hv2", "status": "new", "health_delta": 50,
     "first_reported": "2024-05-01 10:00:00.000000",
     "last_reported": "2024-05-01 10:05:00.000000", "acknowledged_at": "",
     "message": "Node hv2 was dead and/or fenced"},
    {"id": "VM_FAILED_web1", "status": "ack", "health_delta": 10,
     "first_reported": "2024-05-01 09:00:00.000000",
     "last_reported": "2024-05-01 09:30:00.000000",
     "acknowledged_at": "2024-05-01 09:40:00.000000", "message": "VM web1 was failed"},
]
OK = {"message": "done"}


def _query(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(str(request.url.query, "ascii")))


def test_list_short_sends_the_sort_key_and_shows_a_table(tmp_path: Path) -> None:
    api = FakeApi({("GET", "/faults"): FAULTS})
    result = run(api, tmp_path, "cluster", "fault", "list")
    assert result.exit_code == 0, result.output
    assert _query(api.seen[0]) == {"sort_key": "last_reported"}
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "Status", "Health", "delta", "Last", "reported", "Message"]
    assert lines[1].split()[:3] == ["DEAD_NODE_hv2", "new", "-50%"]
    assert lines[1].endswith("Node hv2 was dead and/or fenced")
    assert lines[2].split()[:3] == ["VM_FAILED_web1", "ack", "-10%"]
    assert "First reported" not in result.stdout


def test_list_long_sort_key_and_one_fault(tmp_path: Path) -> None:
    api = FakeApi({("GET", "/faults"): FAULTS, ("GET", "/faults/VM_FAILED_web1"): [FAULTS[1]]})
    long = run(api, tmp_path, "cluster", "fault", "list", "-f", "long", "-s", "health_delta")
    assert long.exit_code == 0, long.output
    assert _query(api.seen[0]) == {"sort_key": "health_delta"}
    assert "First reported" in long.stdout and "Acknowledged at" in long.stdout
    assert "2024-05-01 09:40:00.000000" in long.stdout
    one = run(api, tmp_path, "cluster", "fault", "list", "VM_FAILED_web1", "-f", "json")
    assert one.exit_code == 0, one.output
    assert api.seen[-1].url.path == "/api/v1/faults/VM_FAILED_web1"
    assert json.loads(one.stdout) == [FAULTS[1]]


def test_list_json_empty_and_unknown(tmp_path: Path) -> None:
    api = FakeApi({("GET", "/faults"): []})
    result = run(api, tmp_path, "cluster", "fault", "list", "-f", "json-pretty")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    empty = run(api, tmp_path, "cluster", "fault", "list")
    assert empty.stdout.strip() == "No faults found."
    missing = FakeApi({("GET", "/faults/NOPE"): httpx.Response(
        404, json={"message": "No fault with ID 'NOPE' exists"})})
    gone = run(missing, tmp_path, "cluster", "fault", "list", "NOPE")
    assert gone.exit_code == 2
    assert "No fault with ID 'NOPE' exists" in gone.stderr
    bad = run(api, tmp_path, "cluster", "fault", "list", "-s", "nonsense")
    assert bad.exit_code == 2 and not [r for r in api.seen if "nonsense" in str(r.url)]


def test_ack_one_several_and_all(tmp_path: Path) -> None:
    api = FakeApi({("PUT", "/faults/DEAD_NODE_hv2"): OK, ("PUT", "/faults/VM_FAILED_web1"): OK,
                   ("PUT", "/faults"): {"message": "all acked"}})
    result = run(api, tmp_path, "cluster", "fault", "ack", "DEAD_NODE_hv2", "VM_FAILED_web1")
    assert result.exit_code == 0, result.output
    assert [(r.method, r.url.path) for r in api.seen] == [
        ("PUT", "/api/v1/faults/DEAD_NODE_hv2"), ("PUT", "/api/v1/faults/VM_FAILED_web1")]
    assert result.stdout == "done\ndone\n"
    declined = run(api, tmp_path, "cluster", "fault", "ack-all", input="n\n")
    assert declined.exit_code == 0 and len(api.seen) == 2  # nothing sent
    everything = run(api, tmp_path, "cluster", "fault", "ack-all", "-y")
    assert everything.exit_code == 0 and everything.stdout == "all acked\n"
    assert (api.seen[-1].method, api.seen[-1].url.path) == ("PUT", "/api/v1/faults")


def test_delete_confirms_and_sends(tmp_path: Path) -> None:
    api = FakeApi({("DELETE", "/faults/DEAD_NODE_hv2"): OK,
                   ("DELETE", "/faults"): {"message": "all gone"}})
    declined = run(api, tmp_path, "cluster", "fault", "delete", "DEAD_NODE_hv2", input="n\n")
    assert declined.exit_code == 0 and api.seen == []
    confirmed = run(api, tmp_path, "cluster", "fault", "delete", "DEAD_NODE_hv2", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert (api.seen[-1].method, api.seen[-1].url.path) == \
        ("DELETE", "/api/v1/faults/DEAD_NODE_hv2")
    everything = run(api, tmp_path, "cluster", "fault", "delete-all", "--yes")
    assert everything.exit_code == 0 and everything.stdout == "all gone\n"
    assert (api.seen[-1].method, api.seen[-1].url.path) == ("DELETE", "/api/v1/faults")


def test_ack_needs_an_id_and_reports_api_errors(tmp_path: Path) -> None:
    api = FakeApi({("PUT", "/faults/NOPE"): httpx.Response(
        404, json={"message": "No fault with ID 'NOPE' exists"})})
    assert run(api, tmp_path, "cluster", "fault", "ack").exit_code == 2
    result = run(api, tmp_path, "cluster", "fault", "ack", "NOPE")
    assert result.exit_code == 2 and "No fault with ID 'NOPE' exists" in result.stderr
