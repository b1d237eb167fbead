"""VM list and information against a real ZooKeeper: the fields and types PVC clients
read, filters and negate, statistics, metadata, tags and the console."""

from __future__ import annotations

from typing import Any

import pytest

from pvc.ops.network import networks
from pvc.ops.network.spec import Limits
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.vm.support import (
    API,
    define,
    domain_xml,
    info,
    set_status,
    uuid_of,
    vm_cluster,
)

VM_FIELDS: dict[str, type] = {
    "name": str, "uuid": str, "description": str, "profile": str, "state": str, "node": str,
    "last_node": str, "migrated": str, "failed_reason": str, "memory": int, "vcpu": int,
    "vcpu_topology": str, "vnc": dict, "type": str, "arch": str, "machine": str,
    "emulator": str, "features": list, "memory_stats": dict, "vcpu_stats": dict,
    "disks": list, "networks": list, "controllers": list, "tags": list, "snapshots": list,
    "node_limit": list, "node_selector": str, "node_autostart": bool, "migration_method": str,
    "migration_max_downtime": int, "xml": str,
}
NET_COUNTERS = ("rd_bytes", "rd_packets", "rd_errors", "rd_drops",
                "wr_bytes", "wr_packets", "wr_errors", "wr_drops")
MAC = "52:54:00:12:34:56"
STATS = {
    "timestamp": 1700000000, "node": "hv1", "state": "running",
    "memory_stats": {"actual": 524288, "rss": 300000, "swap_in": 0},
    "vcpu_stats": {"cpu_time": 5_000_000_000, "user_time": 3_000_000_000,
                   "system_time": 1_000_000_000},
    "disk_stats": [{"name": "sda", "rd_req": 10, "rd_bytes": 4096, "wr_req": 3,
                    "wr_bytes": 1024, "errs": 0}],
    "net_stats": [{"mac": MAC, "name": "vnet0", **{k: i + 1 for i, k in enumerate(NET_COUNTERS)}}],
}


def rich_vm(store: Store) -> Any:
    c = vm_cluster(store)
    networks.add(store, Limits(), 100, "net100", "managed")
    xml = domain_xml("rich", memory=512, vcpus=2, description="A rich VM",
                     nics=[("vmbr100", MAC), ("vmbrcluster", "52:54:00:00:00:01")],
                     disks=["vms/rich_sda"])
    define(c, "rich", xml=xml, node="hv1", user_tags=["web"], protected_tags=["prod"])
    u = uuid_of("rich")
    store.write("domain.stats", STATS, domain=u)
    store.write("domain.vnc", "127.0.0.1:5901", domain=u)
    return c


def check_types(vm: dict[str, Any]) -> None:
    assert set(vm) == set(VM_FIELDS)
    for key, typ in VM_FIELDS.items():
        assert isinstance(vm[key], typ), (key, vm[key])
    assert set(vm["vnc"]) == {"listen", "port"}
    for n in vm["networks"]:
        assert isinstance(n["vni"], str)
        assert {"type", "source", "mac", "model", *NET_COUNTERS} <= set(n)
    for d in vm["disks"]:
        assert {"type", "name", "dev", "bus", "rd_req", "rd_bytes", "wr_req", "wr_bytes"} <= set(d)
    for t in vm["tags"]:
        assert set(t) == {"name", "type", "protected"} and isinstance(t["protected"], bool)


def test_info_has_every_field_with_statistics_and_vnc(store: Store) -> None:
    c = rich_vm(store)
    vm = info(c, "rich")
    check_types(vm)
    assert vm["description"] == "A rich VM" and vm["vcpu_topology"] == "1/1/1"
    assert (vm["type"], vm["arch"], vm["machine"]) == ("qemu", "x86_64", "pc")
    assert vm["emulator"] == "/usr/bin/qemu-system-x86_64"
    assert vm["features"] == ["acpi", "apic"]
    assert vm["controllers"] == [{"type": "scsi", "model": "virtio-scsi"}]
    assert vm["vnc"] == {"listen": "127.0.0.1", "port": "5901"}
    assert vm["memory_stats"] == STATS["memory_stats"]
    assert vm["vcpu_stats"] == STATS["vcpu_stats"]
    assert vm["disks"] == [{"type": "rbd", "name": "vms/rich_sda", "dev": "sda", "bus": "scsi",
                            "rd_req": 10, "rd_bytes": 4096, "wr_req": 3, "wr_bytes": 1024,
                            "errs": 0}]
    net, cluster_net = vm["networks"]
    assert (net["type"], net["source"], net["mac"], net["model"], net["vni"]) == (
        "bridge", "vmbr100", MAC, "virtio", "100")
    assert [net[k] for k in NET_COUNTERS] == list(range(1, 9))
    assert cluster_net["vni"] == "cluster" and cluster_net["rd_bytes"] == 0
    assert [t["name"] for t in vm["tags"]] == ["web", "prod"]
    assert vm["snapshots"] == []
    assert info(c, uuid_of("rich")) == vm  # by UUID too


def test_list_items_have_every_field(store: Store) -> None:
    c = rich_vm(store)
    define(c, "plain")
    r = c.get(f"{API}/vm", params={"negate": "False"})
    assert r.status_code == 200
    body = r.json()
    assert [v["name"] for v in body] == ["plain", "rich"]
    for vm in body:
        check_types(vm)
    assert body[1]["networks"][0]["vni"] == "100" and body[1]["memory"] == 512


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["web1", "web2", "sql1", "sql2"]),
        ({"limit": "we"}, ["web1", "web2"]),
        ({"limit": "^sq"}, ["sql1", "sql2"]),
        ({"limit": "[lb]1$"}, ["web1", "sql1"]),
        ({"limit": uuid_of("sql2")}, ["sql2"]),
        ({"node": "hv2"}, ["web2", "sql2"]),
        ({"node": "hv2", "negate": "True"}, ["web1", "sql1"]),
        ({"state": "start"}, ["web1"]),
        ({"state": "start", "negate": "true"}, ["web2", "sql1", "sql2"]),
        ({"tag": "db"}, ["sql1", "sql2"]),
        ({"tag": "db", "negate": "True"}, ["web1", "web2"]),
        ({"tag": "db", "node": "hv2"}, ["sql2"]),
        ({"tag": "db", "node": "hv2", "negate": "True"}, ["web1", "web2", "sql1"]),
        ({"limit": "web", "state": "stop", "negate": "False"}, ["web2"]),
    ],
)
def test_list_filters(store: Store, params: dict[str, str], expected: list[str]) -> None:
    c = vm_cluster(store)
    for name, node, tags in (("web1", "hv1", []), ("web2", "hv2", []), ("sql1", "hv1", ["db"]),
                             ("sql2", "hv2", ["db"])):
        define(c, name, node=node, user_tags=tags)
    set_status(store, uuid_of("web1"), state="start")
    r = c.get(f"{API}/vm", params=params)
    assert r.status_code == 200, r.text
    assert [v["name"] for v in r.json()] == sorted(expected)  # sorted by name


def test_list_without_match_is_404_and_bad_filters_are_400(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    r = c.get(f"{API}/vm", params={"limit": "zzz"})
    assert r.status_code == 404 and r.json()["message"] == "VM not found."
    for params, word in (({"state": "running"}, "state"), ({"node": "Bad_Node"}, "node name"),
                         ({"limit": "vm(1"}, "limit"), ({"negate": "maybe"}, "negate")):
        r = c.get(f"{API}/vm", params=params)
        assert r.status_code == 400, r.text
        assert word in r.json()["message"]


def test_unknown_vm_is_404_and_a_bad_name_400(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    for suffix in ("", "/state", "/node", "/meta", "/tags", "/console"):
        r = c.get(f"{API}/vm/ghost{suffix}")
        assert r.status_code == 404 and "ghost" in r.json()["message"], suffix
        r = c.get(f"{API}/vm/bad name{suffix}")
        assert r.status_code == 400 and "VM name" in r.json()["message"], suffix


def test_small_getters(store: Store) -> None:
    c = vm_cluster(store)
    define(c, "vm1", node="hv2", limit="hv2,hv3", selector="mem", user_tags=["t1"])
    set_status(store, uuid_of("vm1"), state="start", last_node="hv1")
    assert c.get(f"{API}/vm/vm1/state").json() == {"name": "vm1", "state": "start"}
    assert c.get(f"{API}/vm/vm1/node").json() == {"name": "vm1", "node": "hv2",
                                                   "last_node": "hv1"}
    assert info(c, "vm1")["migrated"] == "from hv1"
    assert c.get(f"{API}/vm/vm1/meta").json() == {
        "name": "vm1", "node_limit": ["hv2", "hv3"], "node_selector": "mem",
        "node_autostart": False, "migration_method": "none", "migration_max_downtime": 300}
    assert c.get(f"{API}/vm/vm1/tags").json() == {
        "name": "vm1", "tags": [{"name": "t1", "type": "user", "protected": False}]}


def test_meta_changes_only_what_is_given_and_refuses_bad_values(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    r = c.post(f"{API}/vm/vm1/meta", params={"limit": "hv1,hv3", "autostart": "True",
                                              "profile": "small"})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == 'Successfully modified metadata of VM "vm1".'
    vm = info(c, "vm1")
    assert vm["node_limit"] == ["hv1", "hv3"] and vm["node_autostart"] is True
    assert vm["profile"] == "small" and vm["node_selector"] == "none"
    r = c.post(f"{API}/vm/vm1/meta", params={"migration_method": "shutdown",
                                              "migration_max_downtime": "1000",
                                              "selector": "load", "limit": ""})
    assert r.status_code == 200
    vm = info(c, "vm1")
    assert (vm["migration_method"], vm["migration_max_downtime"]) == ("shutdown", 1000)
    assert vm["node_selector"] == "load" and vm["node_limit"] == []
    before = tree.read_all(store)
    for params, word in (({"limit": "hv9"}, "hv9"), ({"selector": "x"}, "selector"),
                         ({"migration_method": "x"}, "migration method"),
                         ({"migration_max_downtime": "-1"}, "downtime"),
                         ({"autostart": "perhaps"}, "autostart")):
        r = c.post(f"{API}/vm/vm1/meta", params=params)
        assert r.status_code == 400 and word in r.json()["message"], params
    assert c.post(f"{API}/vm/ghost/meta", params={"autostart": "True"}).status_code == 404
    assert tree.read_all(store) == before


def test_tags_add_and_remove(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    r = c.post(f"{API}/vm/vm1/tags", params={"action": "add", "tag": "keep",
                                              "protected": "True"})
    assert r.status_code == 200 and r.json()["message"] == 'Added tag "keep" to VM "vm1".'
    assert c.get(f"{API}/vm/vm1/tags").json()["tags"] == [
        {"name": "keep", "type": "user", "protected": True}]
    before = tree.read_all(store)
    for params, status, word in (
        ({"action": "add", "tag": "keep"}, 400, "already has tag"),
        ({"action": "remove", "tag": "nope"}, 404, "no tag"),
        ({"action": "add", "tag": "bad tag"}, 400, "tag"),
        ({"action": "toggle", "tag": "x"}, 400, "action"),
    ):
        r = c.post(f"{API}/vm/vm1/tags", params=params)
        assert r.status_code == status and word in r.json()["message"], params
    assert tree.read_all(store) == before
    r = c.post(f"{API}/vm/vm1/tags", params={"action": "remove", "tag": "keep"})
    assert r.status_code == 200 and c.get(f"{API}/vm/vm1/tags").json()["tags"] == []


def test_console_returns_the_last_lines(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    store.write("domain.console_log", "\n".join(f"line {i}" for i in range(10)),
                domain=uuid_of("vm1"))
    r = c.get(f"{API}/vm/vm1/console", params={"lines": "3"})
    assert r.status_code == 200
    assert r.json() == {"name": "vm1", "data": "line 7\nline 8\nline 9"}
    assert c.get(f"{API}/vm/vm1/console").json()["data"].count("\n") == 9
    assert c.get(f"{API}/vm/vm1/console", params={"lines": "0"}).status_code == 400
