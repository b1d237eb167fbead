"""VM define, modify, undefine/remove and rename against a real ZooKeeper: the answers,
what is stored, and refusals that change nothing."""

from __future__ import annotations

from typing import Any

import pytest

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


def test_define_from_a_form_body_stores_a_stopped_vm(store: Store) -> None:
    c = vm_cluster(store)
    xml = domain_xml("web1", memory=512, vcpus=2)
    body = define(
        c, "web1", xml=xml, node="hv2", limit="hv2,hv3", selector="vcpus", autostart="True",
        migration_method="live", migration_max_downtime="500",
        user_tags=["prod", "web"], protected_tags=["keep"],
    )
    assert body["message"] == (
        f'Added new VM with Name "web1" and UUID "{uuid_of("web1")}" to database.'
    )
    vm = info(c, "web1")
    assert (vm["state"], vm["node"], vm["last_node"], vm["migrated"]) == ("stop", "hv2", "", "no")
    assert vm["xml"] == xml and vm["memory"] == 512 and vm["vcpu"] == 2
    assert vm["node_limit"] == ["hv2", "hv3"] and vm["node_selector"] == "vcpus"
    assert vm["node_autostart"] is True and vm["migration_method"] == "live"
    assert vm["migration_max_downtime"] == 500
    assert vm["tags"] == [
        {"name": "prod", "type": "user", "protected": False},
        {"name": "web", "type": "user", "protected": False},
        {"name": "keep", "type": "user", "protected": True},
    ]
    assert store.read("index.domain_name", name="web1") == uuid_of("web1")


def test_xml_in_the_query_string_is_the_same_as_in_a_form(store: Store) -> None:
    c = vm_cluster(store)
    define(c, "q1", form=False, node="hv3")
    define(c, "f1", form=True, node="hv3")
    q, f = info(c, "q1"), info(c, "f1")
    assert q["xml"] == domain_xml("q1") and f["xml"] == domain_xml("f1")
    same = {k: v for k, v in q.items() if k not in ("name", "uuid", "xml")}
    assert same == {k: v for k, v in f.items() if k not in ("name", "uuid", "xml")}


def test_define_with_the_name_in_the_path(store: Store) -> None:
    c = vm_cluster(store)
    r = c.post(f"{API}/vm/named", data={"xml": domain_xml("named")})
    assert r.status_code == 200, r.text
    assert info(c, "named")["uuid"] == uuid_of("named")
    before = tree.read_all(store)
    r = c.post(f"{API}/vm/other", data={"xml": domain_xml("named2")})
    assert r.status_code == 400
    assert '"named2"' in r.json()["message"] and '"other"' in r.json()["message"]
    assert tree.read_all(store) == before


BAD_DEFINES: list[tuple[str, dict[str, Any], str]] = [
    ("<domain><name>x", {}, "does not parse"),
    ("<network/>", {}, "<network>"),
    (domain_xml("bad name"), {}, "VM name"),
    (domain_xml("../etc"), {}, "VM name"),
    (domain_xml("vm1"), {}, 'named "vm1" already exists'),
    (domain_xml("other", uuid=uuid_of("vm1")), {}, f"UUID {uuid_of('vm1')} already exists"),
    (domain_xml("big", memory=16000), {}, "16000 MiB is more than any node has"),
    (domain_xml("wide", vcpus=9), {}, "vCPUs 9"),
    (domain_xml("lost"), {"node": "hv9"}, "hv9"),
    (domain_xml("lost"), {"node": "Bad_Node"}, "node name"),
    (domain_xml("lost"), {"node": "hv1", "limit": "hv2"}, "outside the VM's node limit"),
    (domain_xml("lost"), {"limit": "hv2,hv7"}, "unknown nodes: hv7"),
    (domain_xml("lost"), {"selector": "random"}, "node selector"),
    (domain_xml("lost"), {"migration_method": "teleport"}, "migration method"),
    (domain_xml("lost"), {"migration_max_downtime": "0"}, "max downtime"),
    (domain_xml("lost"), {"user_tags": ["bad tag"]}, "tag"),
]


@pytest.mark.parametrize(("xml", "params", "words"), BAD_DEFINES)
def test_bad_defines_are_refused_and_write_nothing(
    store: Store, xml: str, params: dict[str, Any], words: str
) -> None:
    c = vm_cluster(store, "vm1")
    before = tree.read_all(store)
    r = c.post(f"{API}/vm", params=params, data={"xml": xml})
    assert 400 <= r.status_code < 500, r.text
    assert words in r.json()["message"]
    assert tree.read_all(store) == before


def test_define_without_xml_names_the_parameter(store: Store) -> None:
    c = vm_cluster(store)
    r = c.post(f"{API}/vm")
    assert r.status_code == 400 and "'xml'" in r.json()["message"]


def test_modify_replaces_the_xml_and_restarts_only_a_running_vm(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    new = domain_xml("vm1", memory=256, description="bigger")
    r = c.put(f"{API}/vm/vm1", params={"restart": "True"}, data={"xml": new})
    assert r.status_code == 200, r.text
    assert "not running" in r.json()["message"]
    vm = info(c, "vm1")
    assert vm["memory"] == 256 and vm["description"] == "bigger" and vm["state"] == "stop"
    set_status(store, uuid_of("vm1"), state="start")
    r = c.put(f"{API}/vm/vm1", params={"restart": "True"}, data={"xml": domain_xml("vm1")})
    assert r.status_code == 200 and "restarting" in r.json()["message"]
    assert info(c, "vm1")["state"] == "restart"


def test_modify_can_rename_but_not_change_the_uuid(store: Store) -> None:
    c = vm_cluster(store, "vm1", "vm2")
    r = c.put(f"{API}/vm/vm1", data={"xml": domain_xml("vm1b", uuid=uuid_of("vm1"))})
    assert r.status_code == 200, r.text
    assert info(c, uuid_of("vm1"))["name"] == "vm1b"
    assert c.get(f"{API}/vm/vm1").status_code == 404
    before = tree.read_all(store)
    for xml, words in (
        (domain_xml("vm1b"), "cannot change"),
        (domain_xml("vm2", uuid=uuid_of("vm1")), 'named "vm2" already exists'),
        ("<domain>", "does not parse"),
        (domain_xml("vm1b", uuid=uuid_of("vm1"), memory=99999), "more than any node"),
    ):
        r = c.put(f"{API}/vm/vm1b", data={"xml": xml})
        assert r.status_code == 400, r.text
        assert words in r.json()["message"]
    r = c.put(f"{API}/vm/ghost", data={"xml": domain_xml("ghost")})
    assert r.status_code == 404 and "ghost" in r.json()["message"]
    assert tree.read_all(store) == before


def test_undefine_and_remove(store: Store) -> None:
    c = vm_cluster(store, "vm1", "vm2")
    r = c.delete(f"{API}/vm/vm1", params={"delete_disks": "False"})
    assert r.status_code == 200 and r.json()["message"] == 'Undefined VM "vm1" from the cluster.'
    assert c.get(f"{API}/vm/vm1").status_code == 404
    assert not store.exists("domain", domain=uuid_of("vm1"))
    r = c.delete(f"{API}/vm/{uuid_of('vm2')}", params={"delete_disks": "True"})
    assert r.status_code == 200 and r.json()["message"] == 'Removed VM "vm2" from the cluster.'
    assert c.get(f"{API}/vm").status_code == 404
    assert store.read("index.domain_name", default=None, name="vm2") is None
    r = c.delete(f"{API}/vm/vm2")
    assert r.status_code == 404 and "vm2" in r.json()["message"]


def test_removing_rbd_disks_is_refused_without_a_change(store: Store) -> None:
    c = vm_cluster(store)
    define(c, "disky", xml=domain_xml("disky", disks=["vms/disky_sda"]))
    before = tree.read_all(store)
    r = c.delete(f"{API}/vm/disky", params={"delete_disks": "True"})
    assert r.status_code == 400 and "RBD" in r.json()["message"]
    assert tree.read_all(store) == before


def test_rename_needs_a_stopped_vm_and_a_free_safe_name(store: Store) -> None:
    c = vm_cluster(store, "vm1", "vm2")
    r = c.post(f"{API}/vm/vm1/rename", params={"new_name": "renamed"})
    assert r.status_code == 200 and r.json()["message"] == 'Renamed VM "vm1" to "renamed".'
    vm = info(c, "renamed")
    assert vm["uuid"] == uuid_of("vm1") and "<name>renamed</name>" in vm["xml"]
    set_status(store, uuid_of("vm2"), state="start")
    before = tree.read_all(store)
    for ident, new, status, words in (
        ("vm2", "vm3", 400, "rename needs it stopped"),
        ("renamed", "vm2", 400, 'named "vm2" already exists'),
        ("renamed", "bad/name", 400, "new VM name"),
        ("renamed", "renamed", 400, "already has that name"),
        ("ghost", "vm9", 404, "ghost"),
    ):
        r = c.post(f"{API}/vm/{ident}/rename", params={"new_name": new})
        assert r.status_code == status, r.text
        assert words in r.json()["message"]
    assert tree.read_all(store) == before
