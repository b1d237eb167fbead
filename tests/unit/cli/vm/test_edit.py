"""`pvc vm vcpu|memory|network` (XML edits read with GET and written with PUT) and
`pvc node flush|ready` against a fake API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from pvc.common import vmxml
from tests.unit.cli.vm.support import FakeApi, run, vm

MODIFIED = {"message": 'Modified VM "web1".'}


def edit_api() -> FakeApi:
    api = FakeApi()
    api.on("GET", "/vm/web1", [vm("web1")])
    api.on("PUT", "/vm/web1", MODIFIED)
    return api


def put_xml(api: FakeApi) -> vmxml.DomainSpec:
    put = [s for s in api.seen if s.method == "PUT"]
    assert len(put) == 1 and put[0].form[0][0] == "xml"
    return vmxml.parse(put[0].form[0][1])


def test_vcpu_get(tmp_path: Path) -> None:
    api = edit_api()
    pretty = run(api, tmp_path, "vm", "vcpu", "get", "web1")
    assert [ln.split() for ln in pretty.stdout.splitlines()] == [
        ["vCPUs", "Topology", "(S/C/T)"], ["2", "1/2/1"]]
    assert run(api, tmp_path, "vm", "vcpu", "get", "web1", "-f", "raw").stdout == "2\n"
    as_json = json.loads(run(api, tmp_path, "vm", "vcpu", "get", "web1", "-f", "json").stdout)
    assert as_json == {"vcpus": 2, "topology": {"sockets": 1, "cores": 2, "threads": 1}}


@pytest.mark.parametrize(("args", "vcpus", "topology", "restart"), [
    (["4", "-r"], 4, "1/4/1", "True"),
    (["8", "--topology", "2,2,2", "-R"], 8, "2/2/2", "False"),
])
def test_vcpu_set_puts_the_changed_xml(
    tmp_path: Path, args: list[str], vcpus: int, topology: str, restart: str
) -> None:
    api = edit_api()
    result = run(api, tmp_path, "vm", "vcpu", "set", "web1", *args)
    assert result.exit_code == 0, result.output
    assert api.requests() == [("GET", "/api/v1/vm/web1", []),
                              ("PUT", "/api/v1/vm/web1", [("restart", restart)])]
    spec = put_xml(api)
    assert (spec.vcpus, spec.topology, spec.memory_mib) == (vcpus, topology, 1024)
    assert result.stdout == 'Modified VM "web1".\n'


def test_vcpu_set_refuses_a_wrong_topology_without_a_request(tmp_path: Path) -> None:
    api = edit_api()
    result = run(api, tmp_path, "vm", "vcpu", "set", "web1", "4", "-t", "2,2,2")
    assert result.exit_code == 5 and api.seen == []
    assert result.stderr.splitlines()[-1] == "Error: Topology 2,2,2 gives 8 vCPUs, not 4"


def test_memory_get_and_set(tmp_path: Path) -> None:
    api = edit_api()
    assert run(api, tmp_path, "vm", "memory", "get", "web1", "-f", "raw").stdout == "1024\n"
    got = run(api, tmp_path, "vm", "memory", "get", "web1")
    assert [ln.split() for ln in got.stdout.splitlines()] == [["RAM", "(M)"], ["1024"]]
    api.seen.clear()
    result = run(api, tmp_path, "vm", "memory", "set", "web1", "2048", "-r")
    assert result.exit_code == 0, result.output
    assert put_xml(api).memory_mib == 2048
    assert api.seen[-1].query == [("restart", "True")]


def test_network_get(tmp_path: Path) -> None:
    api = edit_api()
    got = run(api, tmp_path, "vm", "network", "get", "web1")
    assert [ln.split() for ln in got.stdout.splitlines()] == [
        ["Network", "MAC", "Address", "Model"], ["100", "52:54:00:aa:bb:cc", "virtio"]]


def test_network_add_after_the_last_interface(tmp_path: Path) -> None:
    api = edit_api()
    result = run(api, tmp_path, "vm", "network", "add", "web1", "200", "-a", "52:54:00:11:22:33",
                 "-m", "e1000", "-R", "-L")
    assert result.exit_code == 0, result.output
    nets = put_xml(api).networks()
    assert [(n["vni"], n["source"], n["mac"], n["model"]) for n in nets] == [
        ("100", "vmbr100", "52:54:00:aa:bb:cc", "virtio"),
        ("200", "vmbr200", "52:54:00:11:22:33", "e1000")]
    api = edit_api()
    run(api, tmp_path, "vm", "network", "add", "web1", "cluster", "-R", "-L")
    added = put_xml(api).networks()[-1]
    assert added["vni"] == "cluster" and added["mac"].startswith("52:54:00:")


@pytest.mark.parametrize(("args", "error"), [
    (["bad;net"], "Invalid network 'bad;net'"),
    (["200", "-a", "zz:zz"], "Invalid MAC address 'zz:zz'"),
    (["200", "-a", "52:54:00:aa:bb:cc"], "already has an interface with MAC"),
])
def test_network_add_refusals_send_no_put(tmp_path: Path, args: list[str], error: str) -> None:
    api = edit_api()
    result = run(api, tmp_path, "vm", "network", "add", "web1", *args, "-R", "-L")
    assert result.exit_code == 5
    assert error in result.stderr
    assert all(s.method == "GET" for s in api.seen)


def test_network_remove(tmp_path: Path) -> None:
    api = edit_api()
    result = run(api, tmp_path, "vm", "network", "remove", "web1", "100", "-R", "-L")
    assert result.exit_code == 0, result.output
    assert put_xml(api).networks() == []
    api = edit_api()
    missing = run(api, tmp_path, "vm", "network", "remove", "web1", "100", "-m",
                  "52:54:00:00:00:01", "-R", "-L")
    assert missing.exit_code == 2
    assert "no interface on network 100 with MAC address 52:54:00:00:00:01" in missing.stderr


def test_flush_without_wait_and_already(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/node/hv2/domain-state",
           {"message": "Removing node hv2 from active service."},
           {"message": "Node hv2 is already flushed (or flushing)."})
    result = run(api, tmp_path, "node", "flush", "hv2")
    assert result.stdout == "Removing node hv2 from active service.\n"
    again = run(api, tmp_path, "node", "flush", "hv2", "--wait")
    assert again.stdout == "Node hv2 is already flushed (or flushing).\n"
    assert api.requests() == [("POST", "/api/v1/node/hv2/domain-state", [("state", "flush")])] * 2


def test_ready_wait_polls_until_ready(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/node/hv2/domain-state", {"message": "Restoring node hv2 to active service."})
    api.on("GET", "/node/hv2", [{"name": "hv2", "domain_state": "unflush"}],
           httpx.Response(503, json={"message": "busy"}),
           [{"name": "hv2", "domain_state": "ready"}])
    result = run(api, tmp_path, "node", "ready", "hv2", "-w")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("Restoring node hv2 to active service.\n"
                             "Restored node hv2 to active service.\n")
    assert "Waiting for node hv2 to become ready" in result.stderr
    assert api.requests()[0] == ("POST", "/api/v1/node/hv2/domain-state", [("state", "ready")])
    assert [s.path for s in api.seen[1:]][-1] == "/api/v1/node/hv2"


def test_flush_wait_times_out(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("POST", "/node/hv2/domain-state", {"message": "Removing node hv2 from active service."})
    api.on("GET", "/node/hv2", [{"name": "hv2", "domain_state": "flush"}])
    result = run(api, tmp_path, "node", "flush", "hv2", "-w")
    assert result.exit_code == 4
    assert "Timed out after 600 s" in result.stderr and "(it is flush)" in result.stderr


def test_network_add_and_remove_go_live_through_the_device_endpoint(tmp_path: Path) -> None:
    api = edit_api()
    api.on("POST", "/vm/web1/device", {"message": 'Added interface. VM "web1" is not running.'})
    api.on("DELETE", "/vm/web1/device", {"message": "Removed interface."})
    added = run(api, tmp_path, "vm", "network", "add", "web1", "200", "-a", "52:54:00:11:22:33")
    assert added.exit_code == 0, added.output
    assert added.stdout == 'Added interface. VM "web1" is not running.\n'
    posted = [s for s in api.seen if s.method == "POST"]
    assert len(posted) == 1 and posted[0].form[0][0] == "xml"
    assert posted[0].form[0][1] == (
        '<interface type="bridge"><mac address="52:54:00:11:22:33" />'
        '<source bridge="vmbr200" /><model type="virtio" /></interface>')
    assert not [s for s in api.seen if s.method == "PUT"]
    removed = run(api, tmp_path, "vm", "network", "remove", "web1", "100")
    assert removed.exit_code == 0, removed.output
    deleted = [s for s in api.seen if s.method == "DELETE"]
    assert len(deleted) == 1 and "52:54:00:aa:bb:cc" in deleted[0].form[0][1]
