"""`POST|DELETE /vm/{vm}/device` on a real ZooKeeper for a VM that is not running: the
stored XML gains or loses the device at once (200); bad devices change nothing. (The
hot-plug of a running VM, a task on its node, is tested on the development cluster.)"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pvc.common import vmxml
from pvc.ops.network import networks
from pvc.ops.network.spec import Limits
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.vm.support import API, domain_xml, uuid_of, vm_cluster

NIC = ("<interface type='bridge'><mac address='52:54:00:AB:00:01'/>"
       "<source bridge='vmbr100'/><model type='virtio'/></interface>")


@pytest.fixture
def c(store: Store) -> TestClient:
    client = vm_cluster(store)
    networks.add(store, Limits(), 100, "net100", "managed")
    client.post(f"{API}/vm", data={"xml": domain_xml("web1")})
    return client


def stored_nics(store: Store) -> list[tuple[str, str]]:
    spec = vmxml.parse(store.read("domain.xml", domain=uuid_of("web1")))
    return [(n.vni, n.mac) for n in spec.nics]


def test_a_stopped_vm_gets_and_loses_a_nic_in_its_stored_xml(c: TestClient,
                                                              store: Store) -> None:
    r = c.post(f"{API}/vm/web1/device", data={"xml": NIC})
    assert r.status_code == 200, r.text
    assert "next start" in r.json()["message"]
    assert stored_nics(store) == [("100", "52:54:00:ab:00:01")]
    # the same device again (a client that wrote the XML first) changes nothing
    before = tree.read_all(store)
    assert c.post(f"{API}/vm/web1/device", data={"xml": NIC}).status_code == 200
    assert tree.read_all(store) == before
    r = c.request("DELETE", f"{API}/vm/web1/device", data={"xml": NIC})
    assert r.status_code == 200, r.text
    assert stored_nics(store) == []
    assert c.request("DELETE", f"{API}/vm/web1/device", data={"xml": NIC}).status_code == 404


@pytest.mark.parametrize(("xml", "words"), [
    ("", "empty"),
    ("<interface type='bridge'>", "does not parse"),
    ("<controller type='usb'/>", "<interface> or a <disk>"),
    ("<interface type='direct'><mac address='52:54:00:00:00:01'/></interface>", "bridged"),
    ("<interface type='bridge'><source bridge='vmbr100'/></interface>", "MAC"),
    ("<interface type='bridge'><mac address='52:54:00:00:00:01'/>"
     "<source bridge='eth0'/></interface>", "bridge"),
    ("<interface type='bridge'><mac address='52:54:00:00:00:01'/>"
     "<source bridge='vmbr999'/></interface>", "999"),
    ("<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='vmbr100'/>"
     "<model type='virtio;rm'/></interface>", "model"),
    ("<disk type='file'><target dev='../x'/></disk>", "target"),
    ("<!DOCTYPE x [<!ENTITY a 'b'>]><interface type='bridge'/>", "does not parse"),
])
def test_bad_devices_are_refused_and_change_nothing(c: TestClient, store: Store, xml: str,
                                                    words: str) -> None:
    before = tree.read_all(store)
    r = c.post(f"{API}/vm/web1/device", data={"xml": xml})
    assert r.status_code == 400, r.text
    assert words.lower() in r.json()["message"].lower()
    assert tree.read_all(store) == before


def test_an_unknown_vm_is_404(c: TestClient) -> None:
    assert c.post(f"{API}/vm/nope/device", data={"xml": NIC}).status_code == 404
