"""Client networks through the API on a real ZooKeeper: create, show, change, remove; the
shapes PVC's clients read; and every refusal leaves the cluster state as it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import client, standard_cluster
from tests.integration.api.vm.support import define, domain_xml

API = "/api/v1"
NET = {"vni": "100", "description": "net100", "nettype": "managed", "mtu": "",
       "ip4_network": "10.100.0.0/24", "ip4_gateway": "10.100.0.1", "dhcp4": "True",
       "dhcp4_start": "10.100.0.100", "dhcp4_end": "10.100.0.199"}


@pytest.fixture
def c(store: Store) -> TestClient:
    standard_cluster(store)
    return client(store)


def add(c: TestClient, **params: Any) -> dict[str, Any]:
    r = c.post(f"{API}/network", params={**NET, **params})
    assert r.status_code == 200, r.text
    return dict(r.json())


def info(c: TestClient, vni: int | str) -> dict[str, Any]:
    r = c.get(f"{API}/network/{vni}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    return dict(body[0])


def test_a_managed_network_is_created_with_pvcs_defaults_and_shapes(c: TestClient) -> None:
    r = c.post(f"{API}/network", params=[*NET.items(), ("name_servers", "10.100.0.1"),
                                         ("name_servers", "9.9.9.9,1.1.1.1")])
    assert r.status_code == 200, r.text
    assert "100" in r.json()["message"]
    net = info(c, 100)
    assert net == {
        "vni": 100, "description": "net100", "type": "managed", "mtu": 1450,
        "domain": "net100.local", "name_servers": ["10.100.0.1", "9.9.9.9", "1.1.1.1"],
        "ip4": {"network": "10.100.0.0/24", "gateway": "10.100.0.1", "dhcp_flag": "True",
                "dhcp_start": "10.100.0.100", "dhcp_end": "10.100.0.199"},
        "ip6": {"network": "None", "gateway": "None", "dhcp_flag": "False"},
    }


def test_networks_are_listed_by_vni_and_filtered(c: TestClient) -> None:
    assert c.get(f"{API}/network").status_code == 404
    add(c, vni="2000", description="zeta", ip4_network="10.20.0.0/16", ip4_gateway="",
        dhcp4="False", dhcp4_start=None, dhcp4_end=None)
    add(c)
    add(c, vni="30", description="bridge30", nettype="bridged", ip4_network=None,
        ip4_gateway=None, dhcp4="False", dhcp4_start=None, dhcp4_end=None)
    listed = c.get(f"{API}/network").json()
    assert [n["vni"] for n in listed] == [30, 100, 2000]
    bridged, zeta = listed[0], listed[2]
    assert bridged["type"] == "bridged" and bridged["mtu"] == 1500
    assert bridged["domain"] == "None" and bridged["ip4"]["network"] == "None"
    assert zeta["ip4"]["gateway"] == "10.20.0.1"  # the first host when none is given
    assert [n["vni"] for n in c.get(f"{API}/network", params={"limit": "zet"}).json()] == [2000]
    assert [n["vni"] for n in c.get(f"{API}/network", params={"limit": "^10"}).json()] == [100]


def test_ipv6_gets_its_default_gateway_and_router_advertisements(c: TestClient) -> None:
    add(c, ip6_network="fd00:100::/64")
    assert info(c, 100)["ip6"] == {"network": "fd00:100::/64", "gateway": "fd00:100::1",
                                   "dhcp_flag": "True"}


@pytest.mark.parametrize(("params", "words"), [
    ({"vni": "0"}, "VNI"),
    ({"vni": "16777216"}, "VNI"),
    ({"vni": "ten"}, "VNI"),
    ({"nettype": "routed"}, "network type"),
    ({"description": "a;rm -rf"}, "description"),
    ({"description": "../x"}, "description"),
    ({"domain": "bad_domain!"}, "domain"),
    ({"mtu": "1500"}, "MTU"),
    ({"mtu": "big"}, "MTU"),
    ({"ip4_network": "10.100.0.1/24"}, "host bits"),
    ({"ip4_gateway": "10.200.0.1"}, "gateway"),
    ({"dhcp4_start": "10.101.0.10"}, "DHCP start"),
    ({"dhcp4_start": "10.100.0.150", "dhcp4_end": "10.100.0.120"}, "reversed"),
    ({"dhcp4_start": None}, "range"),
    ({"dhcp4_start": "10.100.0.1", "dhcp4_end": "10.100.0.5"}, "gateway"),
    ({"ip6_network": "fd00::1/64"}, "IPv6 network"),
    ({"name_servers": "8.8.8.x"}, "name server"),
    ({"nettype": "bridged"}, "bridged"),
    ({"vni": None}, "vni"),
])
def test_bad_networks_are_refused_and_change_nothing(c: TestClient, store: Store,
                                                     params: dict[str, Any], words: str) -> None:
    before = tree.read_all(store)
    r = c.post(f"{API}/network", params={**NET, **params})
    assert r.status_code == 400, r.text
    assert words.lower() in r.json()["message"].lower()
    assert tree.read_all(store) == before


def test_vnis_and_descriptions_are_unique(c: TestClient, store: Store) -> None:
    add(c)
    before = tree.read_all(store)
    again = c.post(f"{API}/network", params={**NET, "description": "other"})
    assert again.status_code == 400 and "already exists" in again.json()["message"]
    same_name = c.post(f"{API}/network", params={**NET, "vni": "101"})
    assert same_name.status_code == 400 and "net100" in same_name.json()["message"]
    assert tree.read_all(store) == before


def test_a_network_is_modified_live_and_checked_as_a_whole(c: TestClient, store: Store) -> None:
    add(c)
    add(c, vni="101", description="other", ip4_network="10.101.0.0/24", ip4_gateway=None,
        dhcp4="False", dhcp4_start=None, dhcp4_end=None)
    r = c.put(f"{API}/network/100", params={"description": "renamed", "dhcp4_end": "10.100.0.150",
                                            "mtu": "1400"})
    assert r.status_code == 200, r.text
    net = info(c, 100)
    assert (net["description"], net["mtu"], net["ip4"]["dhcp_end"]) == ("renamed", 1400,
                                                                        "10.100.0.150")
    assert net["domain"] == "net100.local"  # a domain is kept until it is changed
    # the old description is free again, the new one is taken
    assert store.read("index.network_description", description="renamed") == "100"
    assert not store.exists("index.network_description", description="net100")
    before = tree.read_all(store)
    for params in ({"description": "other"}, {"ip4_gateway": "10.9.9.9"},
                   {"dhcp4_start": "10.100.0.160"}, {"ip4_network": "10.100.0.0/25"},
                   {"description": "bad name"}):
        r = c.put(f"{API}/network/100", params=params)
        assert r.status_code == 400, (params, r.text)
    assert c.put(f"{API}/network/999", params={"mtu": "1400"}).status_code == 404
    assert tree.read_all(store) == before
    # clearing the MTU goes back to the default of the type
    assert c.put(f"{API}/network/100", params={"mtu": ""}).status_code == 200
    assert info(c, 100)["mtu"] == 1450


def test_a_network_in_use_is_removed_only_when_forced(c: TestClient, store: Store) -> None:
    add(c)
    define(c, "web1", xml=domain_xml("web1", nics=[("vmbr100", "52:54:00:00:00:01")]))
    before = tree.read_all(store)
    r = c.delete(f"{API}/network/100")
    assert r.status_code == 400 and "web1" in r.json()["message"]
    assert tree.read_all(store) == before
    assert c.delete(f"{API}/network/100", params={"force": "True"}).status_code == 200
    assert c.get(f"{API}/network/100").status_code == 404
    assert store.children("root.indexes.network_descriptions") == []
    assert c.delete(f"{API}/network/100").status_code == 404
    # the description can be used again
    add(c, vni="101")


def test_the_cluster_status_counts_networks(c: TestClient) -> None:
    add(c)
    add(c, vni="101", description="other", ip4_network="10.101.0.0/24", ip4_gateway=None,
        dhcp4="False", dhcp4_start=None, dhcp4_end=None)
    assert c.get(f"{API}/status").json()["networks"] == 2


def test_a_vm_with_a_nic_on_a_network_that_does_not_exist_is_refused(c: TestClient,
                                                                      store: Store) -> None:
    before = tree.read_all(store)
    xml = domain_xml("web9", nics=[("vmbr555", "52:54:00:00:00:09")])
    r = c.post(f"{API}/vm", data={"xml": xml})
    assert r.status_code == 400 and "555" in r.json()["message"]
    assert tree.read_all(store) == before
    add(c, vni="555", description="net555", ip4_network="10.55.0.0/24", ip4_gateway=None,
        dhcp4="False", dhcp4_start=None, dhcp4_end=None)
    define(c, "web9", xml=xml)
    # changing the XML to a NIC on a missing network is refused the same way
    other = domain_xml("web9", nics=[("vmbr556", "52:54:00:00:00:09")])
    r = c.put(f"{API}/vm/web9", data={"xml": other})
    assert r.status_code == 400 and "556" in r.json()["message"]
