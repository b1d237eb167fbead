"""`pvc provisioner template network|storage|list ...` end to end: the CLI, our client, the
API, a real PostgreSQL and ZooKeeper. Output formats, and refusals that exit non-zero
changing nothing."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

NET = ("provisioner", "template", "network")
STO = ("provisioner", "template", "storage")
MAC = "{prefix}:{vmid}:{netid}:01"


def listed(pvc, base: tuple[str, ...]) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    r = pvc(*base, "list", "-f", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)  # type: ignore[no-any-return]


def test_network_templates(pvc) -> None:  # type: ignore[no-untyped-def]
    r = pvc(*NET, "list")
    assert r.exit_code == 0 and "No network templates found." in r.output
    r = pvc(*NET, "add", "web", "--mac-template", MAC)
    assert r.exit_code == 0 and "Added new network template 'web'." in r.output, r.output
    assert pvc(*NET, "add", "bare").exit_code == 0
    for vni in ("100", "200"):
        r = pvc(*NET, "vni", "add", "web", vni)
        assert r.exit_code == 0 and f"Added network {vni}" in r.output, r.output
    r = pvc(*NET, "vni", "add", "web", "100")
    assert r.exit_code != 0 and "already has VNI 100" in r.output
    r = pvc(*NET, "vni", "add", "web", "100", "--permit-duplicate")
    assert r.exit_code == 0, r.output
    web = next(t for t in listed(pvc, NET) if t["name"] == "web")
    assert web["mac_template"] == MAC
    assert [n["vni"] for n in web["networks"]] == ["100", "200", "100"]
    r = pvc(*NET, "list")
    lines = r.output.splitlines()
    assert "MAC template" in r.output and "VNIs" in r.output
    assert any("web" in line and MAC in line and "100,200,100" in line for line in lines)
    assert pvc(*NET, "list", "-f", "raw").output.split() == ["bare", "web"]
    assert pvc(*NET, "list", "^b", "-f", "raw").output.split() == ["bare"]
    assert json.loads(pvc(*NET, "list", "-f", "json-pretty").output)[1]["name"] == "web"
    r = pvc(*NET, "vni", "remove", "web", "100", "--yes")
    assert r.exit_code == 0 and "Removed" in r.output
    web = next(t for t in listed(pvc, NET) if t["name"] == "web")
    assert [n["vni"] for n in web["networks"]] == ["200", "100"]
    r = pvc(*NET, "remove", "bare", "-y")
    assert r.exit_code == 0 and "Removed network template 'bare'." in r.output
    assert [t["name"] for t in listed(pvc, NET)] == ["web"]


def test_storage_templates(pvc) -> None:  # type: ignore[no-untyped-def]
    r = pvc(*STO, "list")
    assert r.exit_code == 0 and "No storage templates found." in r.output
    assert pvc(*STO, "add", "web").exit_code == 0
    assert pvc(*STO, "add", "bare").exit_code == 0
    r = pvc(*STO, "disk", "add", "web", "sda", "--pool", "vms", "--size", "20",
            "--filesystem", "ext4", "--fsarg", "-L", "--fsarg", "root", "--mountpoint", "/")
    assert r.exit_code == 0 and "Added disk sda" in r.output, r.output
    r = pvc(*STO, "disk", "add", "web", "sdb", "-p", "vms", "-i", "golden",
            "--filesystem", "xfs", "-m", "/srv/data")
    assert r.exit_code == 0, r.output
    r = pvc(*STO, "disk", "add", "web", "sdc", "-p", "ssd", "-s", "4", "--filesystem", "swap")
    assert r.exit_code == 0, r.output
    web = next(t for t in listed(pvc, STO) if t["name"] == "web")
    sda, sdb, sdc = web["disks"]
    assert (sda["pool"], sda["disk_size_gb"], sda["filesystem"], sda["filesystem_args"],
            sda["mountpoint"]) == ("vms", 20, "ext4", "-L root", "/")
    assert (sdb["source_volume"], sdb["disk_size_gb"], sdb["mountpoint"]) == (
        "golden", None, "/srv/data")
    assert (sdc["filesystem"], sdc["mountpoint"]) == ("swap", None)
    r = pvc(*STO, "list")
    lines = r.output.splitlines()
    web_at = next(i for i, line in enumerate(lines) if line.startswith("web"))
    disk_rows = lines[web_at + 1:web_at + 4]
    assert [row.split()[0] for row in disk_rows] == ["sda", "sdb", "sdc"]
    assert "-L root" in disk_rows[0] and "/srv/data" in disk_rows[1]
    assert any(line.startswith("bare") and "(no disks)" in line for line in lines)
    assert pvc(*STO, "list", "-f", "raw").output.split() == ["bare", "web"]
    r = pvc(*STO, "disk", "remove", "web", "sdb", "-y")
    assert r.exit_code == 0 and "Removed disk sdb" in r.output
    assert [d["disk_id"] for d in listed(pvc, STO)[1]["disks"]] == ["sda", "sdc"]
    assert pvc(*STO, "remove", "bare", "--yes").exit_code == 0
    assert [t["name"] for t in listed(pvc, STO)] == ["web"]


def test_all_templates_list(pvc) -> None:  # type: ignore[no-untyped-def]
    r = pvc("provisioner", "template", "list")
    assert r.exit_code == 0, r.output
    for kind in ("system", "network", "storage"):
        assert f"No {kind} templates found." in r.output
    assert pvc("provisioner", "template", "system", "add", "small", "-u", "1",
               "-m", "512").exit_code == 0
    assert pvc(*NET, "add", "net1").exit_code == 0
    assert pvc(*NET, "vni", "add", "net1", "100").exit_code == 0
    assert pvc(*STO, "add", "disks1").exit_code == 0
    r = pvc("provisioner", "template", "list")
    assert r.exit_code == 0, r.output
    for title in ("System templates", "Network templates", "Storage templates"):
        assert title in r.output
    assert "small" in r.output and "net1" in r.output and "disks1" in r.output
    found = json.loads(pvc("provisioner", "template", "list", "-f", "json").output)
    assert {k: [t["name"] for t in v] for k, v in found.items()} == {
        "system-templates": ["small"], "network-templates": ["net1"],
        "storage-templates": ["disks1"]}
    r = pvc("provisioner", "template", "list", "-f", "raw")
    assert r.output.split() == ["small", "net1", "disks1"]
    r = pvc("provisioner", "template", "list", "^net", "-f", "raw")
    assert r.output.split() == ["net1"]


def test_refusals_exit_non_zero_and_change_nothing(pvc) -> None:  # type: ignore[no-untyped-def]
    assert pvc(*NET, "add", "web", "-m", MAC).exit_code == 0
    assert pvc(*NET, "vni", "add", "web", "100").exit_code == 0
    assert pvc(*STO, "add", "web").exit_code == 0
    assert pvc(*STO, "disk", "add", "web", "sda", "-p", "vms", "-s", "10").exit_code == 0
    refusals = [
        ((*NET, "add", "web"), "already exists"),
        ((*NET, "add", "w;b"), "name"),
        ((*NET, "add", "other", "-m", "{prefix}:{vmid}:{netid}"), "MAC template"),
        ((*NET, "vni", "add", "nope", "100"), "nope"),
        ((*NET, "vni", "add", "web", "0"), "0"),
        ((*NET, "vni", "remove", "web", "300", "-y"), "300"),
        ((*NET, "remove", "nope", "-y"), "nope"),
        ((*STO, "add", "web"), "already exists"),
        ((*STO, "disk", "add", "web", "sda", "-p", "vms", "-s", "10"), "already has a disk"),
        ((*STO, "disk", "add", "web", "sdb", "-p", "vms"), "--size or --source-volume"),
        ((*STO, "disk", "add", "web", "sdb", "-p", "vms", "-s", "1", "-i", "x"),
         "--size or --source-volume"),
        ((*STO, "disk", "add", "web", "sd1", "-p", "vms", "-s", "1"), "disk id"),
        ((*STO, "disk", "add", "web", "sdb", "-p", "vms", "-s", "1", "-m", "/x"),
         "need a filesystem"),
        ((*STO, "disk", "add", "web", "sdb", "-p", "vms", "-s", "1", "--filesystem", "ext4",
          "--fsarg", "a b"), "filesystem argument"),
        ((*STO, "disk", "add", "web", "sdb", "-p", "vms", "-s", "1", "--filesystem", "ntfs"),
         "ntfs"),
        ((*STO, "disk", "remove", "web", "sdz", "-y"), "sdz"),
    ]
    for args, message in refusals:
        r = pvc(*args)
        assert r.exit_code != 0 and message in r.output, (args, r.output)
    [net] = listed(pvc, NET)
    assert (net["name"], net["mac_template"], [n["vni"] for n in net["networks"]]) == (
        "web", MAC, ["100"])
    [sto] = listed(pvc, STO)
    assert [(d["disk_id"], d["disk_size_gb"]) for d in sto["disks"]] == [("sda", 10)]


def test_removals_ask_first(pvc) -> None:  # type: ignore[no-untyped-def]
    assert pvc(*NET, "add", "web").exit_code == 0
    assert pvc(*NET, "vni", "add", "web", "100").exit_code == 0
    assert pvc(*STO, "add", "web").exit_code == 0
    assert pvc(*STO, "disk", "add", "web", "sda", "-p", "vms", "-s", "10").exit_code == 0
    for args in ((*NET, "remove", "web"), (*NET, "vni", "remove", "web", "100"),
                 (*STO, "remove", "web"), (*STO, "disk", "remove", "web", "sda")):
        r = pvc(*args, safe=True, stdin="n\n")
        assert "Aborted." in r.output, (args, r.output)
    assert [n["vni"] for n in listed(pvc, NET)[0]["networks"]] == ["100"]
    assert [d["disk_id"] for d in listed(pvc, STO)[0]["disks"]] == ["sda"]
    r = pvc(*NET, "remove", "web", safe=True, stdin="y\n")
    assert r.exit_code == 0 and "Removed" in r.output
    assert listed(pvc, NET) == []
