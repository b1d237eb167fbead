"""Network and storage templates, and all templates at once, through the API on real
PostgreSQL (schema by the API's own background preparation) and ZooKeeper: PVC's wire
shapes, and refusals that change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.db.engine import Database
from pvc.db.models import NetworkTemplate, Profile, StorageTemplate

pytestmark = pytest.mark.integration

ALL = "/api/v1/provisioner/template"
NET = f"{ALL}/network"
STO = f"{ALL}/storage"
MAC = "{prefix}:{vmid}:{netid}:01"
NET_FIELDS = {"id", "name", "mac_template", "networks"}
DISK_FIELDS = {"id", "storage_template", "disk_id", "pool", "source_volume", "disk_size_gb",
               "filesystem", "filesystem_args", "mountpoint"}


def ok(r: Any) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def vnis(c: TestClient, name: str) -> list[str]:
    return [n["vni"] for n in ok(c.get(f"{NET}/{name}/net"))]


def disks(c: TestClient, name: str) -> list[dict[str, Any]]:
    return list(ok(c.get(f"{STO}/{name}/disk")))


def test_network_templates_with_pvc_shapes(c: TestClient) -> None:
    assert c.get(NET).status_code == 404  # PVC answers an empty listing so
    assert "web" in ok(c.post(NET, params={"name": "web", "mac_template": MAC}))["message"]
    ok(c.post(f"{NET}/bare", data={}))  # the name in the path, as PVC's CLI sends it
    assert ok(c.get(f"{NET}/bare/net")) == []  # a template without networks: a list
    ok(c.post(f"{NET}/web/net", params={"vni": "100"}))
    ok(c.post(f"{NET}/web/net/200", data={}))  # the VNI in the path, as PVC's CLI sends it
    r = c.post(f"{NET}/web/net", params={"vni": "100"})
    assert r.status_code == 400 and "permit_duplicate" in r.json()["message"]
    ok(c.post(f"{NET}/web/net/100", data={"permit_duplicate": "True"}))
    listed = ok(c.get(NET))
    assert [t["name"] for t in listed] == ["bare", "web"]
    assert all(set(t) == NET_FIELDS for t in listed)
    [web] = ok(c.get(f"{NET}/web"))
    assert web["mac_template"] == MAC
    assert [n["vni"] for n in web["networks"]] == ["100", "200", "100"]
    assert all(set(n) == {"id", "network_template", "vni"} for n in web["networks"])
    one = ok(c.get(f"{NET}/web/net/200"))
    assert isinstance(one, list) and [n["vni"] for n in one] == ["200"]
    assert "Removed" in ok(c.delete(f"{NET}/web/net/100"))["message"]
    assert vnis(c, "web") == ["200", "100"]
    assert [t["name"] for t in ok(c.get(NET, params={"limit": "^b"}))] == ["bare"]
    ok(c.delete(f"{NET}/bare"))
    assert [t["name"] for t in ok(c.get(NET))] == ["web"]


def test_storage_templates_with_pvc_shapes(c: TestClient) -> None:
    assert c.get(STO).status_code == 404
    ok(c.post(STO, params={"name": "web"}))
    ok(c.post(f"{STO}/bare"))
    assert ok(c.get(f"{STO}/bare/disk")) == []
    # as the brief's example, all in the query, the arguments repeated
    ok(c.post(f"{STO}/web/disk", params=[
        ("disk_id", "sda"), ("pool", "vms"), ("disk_size", "10"), ("filesystem", "ext4"),
        ("filesystem_arg", "-L"), ("filesystem_arg", "root"), ("mountpoint", "/")]))
    # the disk id in the path and the rest in a form, as PVC's CLI may send them
    ok(c.post(f"{STO}/web/disk/sdb", data={"pool": "vms", "source_volume": "golden",
                                            "filesystem": "xfs", "mountpoint": "/srv"}))
    ok(c.post(f"{STO}/web/disk/sdc", params={"pool": "ssd", "disk_size": "2",
                                              "filesystem": "swap"}))
    listed = ok(c.get(STO))
    assert [t["name"] for t in listed] == ["bare", "web"]
    assert all(set(t) == {"id", "name", "disks"} for t in listed)
    [web] = ok(c.get(f"{STO}/web"))
    assert all(set(d) == DISK_FIELDS for d in web["disks"])
    sda, sdb, sdc = web["disks"]
    assert {k: sda[k] for k in DISK_FIELDS - {"id", "storage_template"}} == {
        "disk_id": "sda", "pool": "vms", "source_volume": None, "disk_size_gb": 10,
        "filesystem": "ext4", "filesystem_args": "-L root", "mountpoint": "/"}
    assert (sdb["source_volume"], sdb["disk_size_gb"], sdb["mountpoint"]) == ("golden", None,
                                                                            "/srv")
    assert (sdc["filesystem"], sdc["mountpoint"]) == ("swap", None)
    assert ok(c.get(f"{STO}/web/disk/sdb")) == [sdb]
    assert "Removed" in ok(c.delete(f"{STO}/web/disk/sda"))["message"]
    assert [d["disk_id"] for d in disks(c, "web")] == ["sdb", "sdc"]
    ok(c.delete(f"{STO}/bare"))
    assert [t["name"] for t in ok(c.get(STO))] == ["web"]


def test_all_templates_at_once(c: TestClient) -> None:
    empty = ok(c.get(ALL))
    assert empty == {"system-templates": [], "network-templates": [], "storage-templates": []}
    ok(c.post(f"{ALL}/system", params={"name": "web", "vcpus": "1", "vram": "512",
                                       "serial": "True", "vnc": "False"}))
    ok(c.post(NET, params={"name": "web"}))
    ok(c.post(NET, params={"name": "db"}))
    ok(c.post(f"{NET}/web/net", params={"vni": "100"}))
    ok(c.post(STO, params={"name": "web"}))
    found = ok(c.get(ALL))
    assert [t["name"] for t in found["system-templates"]] == ["web"]
    assert [t["name"] for t in found["network-templates"]] == ["db", "web"]
    assert found["network-templates"][1]["networks"][0]["vni"] == "100"
    assert [t["name"] for t in found["storage-templates"]] == ["web"]
    only = ok(c.get(ALL, params={"limit": "^d"}))
    assert only == {"system-templates": [], "network-templates": [found["network-templates"][0]],
                    "storage-templates": []}
    assert c.get(ALL, params={"limit": "(["}).status_code == 400


@pytest.mark.parametrize(("params", "message"), [
    ({"name": "bad name"}, "name"),
    ({"name": ""}, "name"),
    ({}, "name"),
    ({"name": "web", "mac_template": "{prefix}:{vmid}:{netid}"}, "MAC template"),
    ({"name": "web", "mac_template": "01:00:00:00:{vmid}:{netid}"}, "multicast"),
    ({"name": "web", "mac_template": "{prefix}:{mac}:{netid}:01"}, "placeholder"),
])
def test_bad_network_templates_are_400s_creating_nothing(
        c: TestClient, params: dict[str, str], message: str) -> None:
    r = c.post(NET, params=params)
    assert r.status_code == 400 and message in r.json()["message"], r.text
    assert c.get(NET).status_code == 404


@pytest.mark.parametrize(("path", "params", "message"), [
    (f"{NET}/web/net", {}, "vni"),
    (f"{NET}/web/net", {"vni": "abc"}, "vni"),
    (f"{NET}/web/net", {"vni": "0"}, "VNI"),
    (f"{NET}/web/net", {"vni": "16777216"}, "VNI"),
    (f"{NET}/web/net/abc", {}, "VNI"),
    (f"{NET}/web/net/100", {}, "already has VNI 100"),
    (f"{NET}/web/net/200", {"permit_duplicate": "maybe"}, "permit_duplicate"),
])
def test_bad_networks_are_400s_changing_nothing(
        c: TestClient, path: str, params: dict[str, str], message: str) -> None:
    ok(c.post(NET, params={"name": "web"}))
    ok(c.post(f"{NET}/web/net", params={"vni": "100"}))
    r = c.post(path, params=params)
    assert r.status_code == 400 and message in r.text, r.text
    assert vnis(c, "web") == ["100"]


GOOD = {"disk_id": "sdb", "pool": "vms", "disk_size": "10"}


@pytest.mark.parametrize(("params", "message"), [
    ({k: v for k, v in GOOD.items() if k != "disk_id"}, "disk_id"),
    ({k: v for k, v in GOOD.items() if k != "pool"}, "pool"),
    ({**GOOD, "disk_id": "sda"}, "already has a disk sda"),
    ({**GOOD, "disk_id": "sd1"}, "disk id"),
    ({**GOOD, "pool": "vms/x"}, "pool"),
    ({**GOOD, "disk_size": "ten"}, "disk_size"),
    ({**GOOD, "disk_size": "0"}, "disk size"),
    ({**GOOD, "source_volume": "base"}, "either"),
    ({"disk_id": "sdb", "pool": "vms"}, "either"),
    ({**GOOD, "filesystem": "ntfs"}, "filesystem"),
    ({**GOOD, "mountpoint": "/data"}, "need a filesystem"),
    ({**GOOD, "filesystem": "ext4", "mountpoint": "/"}, "already mounts disk sda"),
    ({**GOOD, "filesystem": "ext4", "mountpoint": "/srv/../etc"}, "mountpoint"),
    ({**GOOD, "filesystem": "ext4", "filesystem_arg": "-L x"}, "filesystem argument"),
    ({**GOOD, "filesystem": "ext4", "filesystem_arg": "`reboot`"}, "filesystem argument"),
    ({**GOOD, "filesystem": "swap", "mountpoint": "/swap"}, "swap"),
])
def test_bad_disks_are_400s_changing_nothing(
        c: TestClient, params: dict[str, str], message: str) -> None:
    ok(c.post(STO, params={"name": "web"}))
    ok(c.post(f"{STO}/web/disk/sda", params={"pool": "vms", "disk_size": "10",
                                              "filesystem": "ext4", "mountpoint": "/"}))
    before = disks(c, "web")
    r = c.post(f"{STO}/web/disk", params=params)
    assert r.status_code == 400 and message in r.text, r.text
    assert disks(c, "web") == before


def test_duplicates_unknowns_and_templates_in_use(c: TestClient, db: Database) -> None:
    ok(c.post(NET, params={"name": "web", "mac_template": MAC}))
    ok(c.post(f"{NET}/web/net", params={"vni": "100"}))
    ok(c.post(STO, params={"name": "web"}))
    ok(c.post(f"{STO}/web/disk/sda", params={"pool": "vms", "disk_size": "10"}))
    r = c.post(NET, params={"name": "web"})
    assert r.status_code == 400 and "already exists" in r.json()["message"]
    assert ok(c.get(f"{NET}/web"))[0]["mac_template"] == MAC
    r = c.post(f"{STO}/web")
    assert r.status_code == 400 and "already exists" in r.json()["message"]
    for method, path in (("GET", f"{NET}/nope"), ("DELETE", f"{NET}/nope"),
                         ("GET", f"{NET}/nope/net"), ("POST", f"{NET}/nope/net/100"),
                         ("GET", f"{NET}/nope/net/100"), ("DELETE", f"{NET}/nope/net/100"),
                         ("GET", f"{NET}/web/net/300"), ("DELETE", f"{NET}/web/net/300"),
                         ("GET", f"{STO}/nope"), ("DELETE", f"{STO}/nope"),
                         ("GET", f"{STO}/nope/disk"), ("GET", f"{STO}/nope/disk/sda"),
                         ("POST", f"{STO}/nope/disk/sda"), ("DELETE", f"{STO}/nope/disk/sda"),
                         ("GET", f"{STO}/web/disk/sdz"), ("DELETE", f"{STO}/web/disk/sdz")):
        params = {"pool": "vms", "disk_size": "1"} if path.endswith("/sda") else None
        r = c.request(method, path, params=params)
        assert r.status_code == 404 and "message" in r.json(), (method, path, r.text)

    def in_use(s: Session) -> None:
        s.add(Profile(name="p", network_template=s.scalars(select(NetworkTemplate)).one().id,
                      storage_template=s.scalars(select(StorageTemplate)).one().id))

    db.run(in_use)
    for path in (f"{NET}/web", f"{STO}/web"):
        r = c.delete(path)
        assert r.status_code == 400 and "profile" in r.json()["message"], r.text
    assert vnis(c, "web") == ["100"]
    assert [d["disk_id"] for d in disks(c, "web")] == ["sda"]
