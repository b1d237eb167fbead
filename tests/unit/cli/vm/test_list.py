"""`pvc vm list|info|dump|log` against a fake API: requests sent and output printed."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.unit.cli.vm.support import FakeApi, run, vm

VMS = [
    vm("web1", tags=["prod", "web"], vnis=["100", "cluster"]),
    vm("db1", state="stop", node="hv2", last_node="hv1", memory=4096, vcpu=4),
    vm("app1", state="migrate", node="hv3", tags=[], vnis=[]),
]


def test_list_always_sends_negate_and_prints_the_grouped_table(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/vm", VMS)
    result = run(api, tmp_path, "vm", "list")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("GET", "/api/v1/vm", [("negate", "False")])]
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["VMs", "Resources", "Node"]
    assert lines[1].split() == ["Name", "State", "Tags", "Snapshots", "Networks", "RAM", "(M)",
                                "vCPUs", "Current", "Migrated"]
    assert lines[2].split() == ["app1", "migrate", "N/A", "0", "N/A", "1024", "2", "hv3", "no"]
    assert lines[3].split() == ["db1", "stop", "N/A", "0", "100", "4096", "4", "hv2", "from",
                                "hv1"]
    assert lines[4].split() == ["web1", "start", "prod,web", "0", "100,cluster", "1024", "2",
                                "hv1", "no"]
    assert len(lines) == 5 and all(line == line.rstrip() for line in lines)


def test_list_filters_raw_and_json(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/vm", VMS)
    raw = run(api, tmp_path, "vm", "list", "web", "-n", "hv1", "-s", "start", "-t", "prod",
              "--negate", "-r")
    assert raw.exit_code == 0, raw.output
    assert api.requests()[-1] == ("GET", "/api/v1/vm", [
        ("limit", "web"), ("node", "hv1"), ("state", "start"), ("tag", "prod"),
        ("negate", "True")])
    assert raw.stdout == "web1\ndb1\napp1\n"
    assert run(api, tmp_path, "vm", "list", "-f", "raw").stdout == raw.stdout
    assert json.loads(run(api, tmp_path, "vm", "list", "-f", "json").stdout) == VMS
    assert json.loads(run(api, tmp_path, "vm", "list", "-f", "json-pretty").stdout) == VMS


def test_an_empty_list_is_the_apis_not_found(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/vm", httpx.Response(404, json={"message": "VM not found."}))
    result = run(api, tmp_path, "vm", "list", "zzz")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: VM not found."


def _fields(text: str) -> dict[str, str]:
    return dict((k.strip(), v.strip()) for k, v in
                (ln.split(":", 1) for ln in text.splitlines() if ":" in ln and ln[0] != " "))


def test_info_pretty_and_long(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/vm/web1", [vm("web1", tags=["prod"], last_node="hv2")])
    pretty = run(api, tmp_path, "vm", "info", "web1")
    assert pretty.exit_code == 0, pretty.output
    assert api.requests() == [("GET", "/api/v1/vm/web1", [])]
    f = _fields(pretty.stdout)
    assert f["Name"] == "web1" and f["UUID"] == "web1-uuid"
    assert f["Description"] == "web1 server" and f["Profile"] == "N/A"
    assert (f["Memory (M)"], f["vCPUs"], f["Topology (S/C/T)"]) == ("1024", "2", "1/2/1")
    assert f["VNC"] == "127.0.0.1:5900"
    assert (f["State"], f["Current Node"], f["Previous Node"]) == ("start", "hv1", "hv2")
    assert (f["Node Selector"], f["Node Limit"], f["Autostart"]) == ("mem", "hv1, hv2", "False")
    assert f["Migration Method"] == "live (max downtime 300 ms)"
    assert f["Networks"] == "100"
    tag_lines = pretty.stdout.splitlines()[-2:]
    assert tag_lines[0].split() == ["Name", "Type", "Protected"]
    assert tag_lines[1].split() == ["prod", "user", "yes"]
    assert "Emulator" not in pretty.stdout
    long = run(api, tmp_path, "vm", "info", "web1", "-f", "long").stdout
    f = _fields(long)
    assert (f["Emulator"], f["Arch"], f["Machine"]) == ("/usr/bin/kvm", "x86_64", "pc")
    assert f["Features"] == "acpi apic" and f["Memory stats"] == "actual: 1048576"
    assert "rss: 500000" in long and "cpu_time: 1000" in long
    rows = [ln.split() for ln in long.splitlines()]
    assert ["vms/web1_sda", "sda", "scsi", "rbd", "5/7", "2048/4096"] in rows
    assert ["100", "bridge", "vmbr100", "52:54:00:aa:bb:cc", "virtio", "11/22", "1/2", "0/0",
            "0/0"] in rows
    assert ["scsi", "virtio-scsi"] in rows


def test_info_json_and_unknown_vm(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/vm/web1", [vm("web1")])
    api.on("GET", "/vm/ghost", httpx.Response(404, json={"message": 'VM "ghost" not found.'}))
    assert json.loads(run(api, tmp_path, "vm", "info", "web1", "-f", "json").stdout) == vm("web1")
    result = run(api, tmp_path, "vm", "info", "ghost")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == 'Error: VM "ghost" not found.'


def test_dump_prints_or_writes_the_xml(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/vm/web1", [vm("web1")])
    result = run(api, tmp_path, "vm", "dump", "web1")
    assert result.exit_code == 0 and result.stdout == vm("web1")["xml"] + "\n"
    out = tmp_path / "web1.xml"
    result = run(api, tmp_path, "vm", "dump", "web1", "-f", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text() == vm("web1")["xml"] + "\n"
    assert result.stdout == f'Wrote the XML of VM "web1" to "{out}".\n'


def test_log_and_follow(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/vm/web1/console",
           {"name": "web1", "data": "boot\nlogin:"},
           {"name": "web1", "data": "boot\nlogin:\nroot"},
           httpx.Response(500, json={"message": "stop"}))
    result = run(api, tmp_path, "vm", "log", "web1", "-l", "5")
    assert result.exit_code == 0 and result.stdout == "boot\nlogin:\n"
    assert api.requests() == [("GET", "/api/v1/vm/web1/console", [("lines", "5")])]
    follow = run(api, tmp_path, "vm", "log", "web1", "--follow")
    assert follow.stdout == "boot\nlogin:\nroot\n"  # new lines only, then the API fails
    assert follow.exit_code == 7
    assert ("lines", "10") in api.seen[1].query and ("lines", "200") in api.seen[2].query
