"""The cloud-init metadata service on a real ZooKeeper and PostgreSQL: a guest is known by
the address of its DHCP lease, gets its own instance-id, name, profile and its profile's
userdata, and any caller that does not lead to exactly one VM gets 404 and nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pvc.api.metadata import create_metadata_app
from pvc.db import migrate
from pvc.db.engine import Database
from pvc.db.models import Script
from pvc.db.prepared import PreparedDatabase
from pvc.ops.network import reservations
from pvc.ops.provisioner import profiles, userdata
from pvc.ops.provisioner import system_templates as st
from pvc.ops.vm.define import define
from pvc.state.store import Store
from tests.integration.api.support import client, make_config, standard_cluster
from tests.integration.api.vm.support import domain_xml, uuid_of

MAC1, MAC2, MAC3 = "52:54:00:20:00:01", "52:54:00:20:00:02", "52:54:00:20:00:03"
DOC = "#cloud-config\nruncmd:\n  - echo PVC-CLOUD-INIT-RAN\n"


@pytest.fixture
def meta(store: Store, db: Database) -> Iterator[tuple[Store, PreparedDatabase]]:
    standard_cluster(store)
    r = client(store).post("/api/v1/network", params={
        "vni": "100", "description": "net100", "nettype": "managed",
        "ip4_network": "10.100.0.0/24", "dhcp4": "True", "dhcp4_start": "10.100.0.100",
        "dhcp4_end": "10.100.0.199"})
    assert r.status_code == 200, r.text
    migrate.upgrade(db)
    st.add(db, "small", st.Settings(vcpu_count=1, vram_mb=256, serial=True, vnc=False))
    db.run(lambda s: s.add(Script(name="noop", script="class VMBuilderScript: pass\n")))
    userdata.add(db, "web-ud", DOC)
    profiles.add(db, "web", "provisioner", profiles.Choices(
        system_template="small", script="noop", userdata="web-ud"))
    config = make_config()
    define(store, config, domain_xml("web1", nics=[("vmbr100", MAC1)]), node="hv1",
           profile="web")
    define(store, config, domain_xml("plain1", nics=[("vmbr100", MAC2)]), node="hv2")
    later = int(time.time()) + 3600
    reservations.record_lease(store, 100, MAC1, "10.100.0.150", "web1", later)
    reservations.record_lease(store, 100, MAC2, "10.100.0.151", "plain1", later)
    prepared = PreparedDatabase(db.spec).start()
    try:
        yield store, prepared
    finally:
        prepared.close()


def guest(meta: tuple[Store, PreparedDatabase], address: str) -> TestClient:
    store, prepared = meta
    return TestClient(create_metadata_app(store, prepared), client=(address, 40000))


def test_a_guest_learns_about_itself(meta: tuple[Store, PreparedDatabase]) -> None:
    c = guest(meta, "10.100.0.150")
    assert c.get("/latest/meta-data/").text.split() == ["instance-id", "local-hostname",
                                                        "name", "profile"]
    assert c.get("/latest/meta-data/instance-id").text == uuid_of("web1")
    assert c.get("/2009-04-04/meta-data/local-hostname").text == "web1"
    assert c.get("/latest/meta-data/profile").text == "web"
    r = c.get("/2009-04-04/user-data")
    assert r.status_code == 200 and r.text == DOC
    # a VM without a profile gets an empty document, and its own identity
    other = guest(meta, "10.100.0.151")
    assert other.get("/latest/meta-data/instance-id").text == uuid_of("plain1")
    assert other.get("/latest/user-data").text == ""


@pytest.mark.parametrize("path", ["/latest/meta-data/", "/latest/meta-data/instance-id",
                                  "/latest/user-data"])
@pytest.mark.parametrize("address", ["10.100.0.152", "10.9.9.9", "testclient", "::1"])
def test_a_caller_that_is_no_vm_gets_404_and_nothing(
        meta: tuple[Store, PreparedDatabase], address: str, path: str) -> None:
    r = guest(meta, address).get(path)
    assert r.status_code == 404
    assert "web" not in r.text and uuid_of("web1") not in r.text


def test_doubtful_leases_answer_nobody(meta: tuple[Store, PreparedDatabase]) -> None:
    store, _ = meta
    # an expired lease
    reservations.record_lease(store, 100, MAC1, "10.100.0.150", "web1", int(time.time()) - 5)
    assert guest(meta, "10.100.0.150").get("/latest/meta-data/instance-id").status_code == 404
    # one address leased to two MACs: neither is believed
    later = int(time.time()) + 3600
    reservations.record_lease(store, 100, MAC1, "10.100.0.151", "web1", later)
    assert guest(meta, "10.100.0.151").get("/latest/meta-data/instance-id").status_code == 404
    # a lease whose MAC is on no VM
    reservations.record_lease(store, 100, MAC3, "10.100.0.160", "ghost", later)
    assert guest(meta, "10.100.0.160").get("/latest/user-data").status_code == 404


def test_unknown_keys_and_versions(meta: tuple[Store, PreparedDatabase]) -> None:
    c = guest(meta, "10.100.0.150")
    assert c.get("/latest/meta-data/public-keys").status_code == 404
    assert c.get("/../meta-data/instance-id").status_code == 404
    assert c.get("/v9/meta-data/instance-id").status_code == 404
