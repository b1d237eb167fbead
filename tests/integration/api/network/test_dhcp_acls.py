"""Static reservations, leases and ACLs of a network through the API on a real ZooKeeper,
the SR-IOV read endpoints, and the network routes against PVC's published surface."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pvc.ops.network import reservations
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.network.test_networks import NET, add
from tests.integration.api.support import client, standard_cluster

API = "/api/v1"
MAC = "52:54:00:00:00:0a"
SURFACE = Path("/work/shared/reference/pvc-api-v1-surface.json")


@pytest.fixture
def c(store: Store) -> TestClient:
    standard_cluster(store)
    c = client(store)
    add(c)
    return c


def reserve(c: TestClient, mac: str = MAC, ip: str = "10.100.0.10",
            hostname: str | None = "web1") -> Any:
    return c.post(f"{API}/network/100/lease",
                  params={"macaddress": mac, "ipaddress": ip, "hostname": hostname})


def leases(c: TestClient, static: bool) -> list[dict[str, Any]]:
    r = c.get(f"{API}/network/100/lease", params={"static": str(static)})
    return list(r.json()) if r.status_code == 200 else []


def test_a_reservation_is_listed_as_static_and_alongside_the_leases(c: TestClient,
                                                                     store: Store) -> None:
    assert c.get(f"{API}/network/100/lease", params={"static": "False"}).status_code == 404
    r = reserve(c, mac="52-54-00-00-00-0A")
    assert r.status_code == 200, r.text
    static = {"hostname": "web1", "ip4_address": "10.100.0.10", "mac_address": MAC,
              "timestamp": 0}
    assert leases(c, static=True) == [static]
    expiry = int(time.time()) + 3600
    reservations.record_lease(store, 100, "52:54:00:00:00:0b", "10.100.0.150", "db1", expiry,
                              "01:52:54:00:00:00:0b")
    both = leases(c, static=False)
    assert both == [static, {"hostname": "db1", "ip4_address": "10.100.0.150",
                             "mac_address": "52:54:00:00:00:0b", "timestamp": expiry}]
    assert leases(c, static=True) == [static]
    one = c.get(f"{API}/network/100/lease/52:54:00:00:00:0b").json()
    assert one == [both[1]]
    assert [x["hostname"] for x in c.get(f"{API}/network/100/lease",
                                         params={"static": "False", "limit": "db"}).json()] == ["db1"]
    reservations.forget_lease(store, 100, "52:54:00:00:00:0b")
    assert leases(c, static=False) == [static]
    assert c.delete(f"{API}/network/100/lease/{MAC}").status_code == 200
    assert leases(c, static=True) == []
    assert c.delete(f"{API}/network/100/lease/{MAC}").status_code == 404


@pytest.mark.parametrize(("mac", "ip", "hostname", "words"), [
    ("52:54:00:00:00:0c", "10.101.0.10", "x", "not a host address"),
    ("52:54:00:00:00:0c", "10.100.0.1", "x", "gateway"),
    ("52:54:00:00:00:0c", "10.100.0.255", "x", "not a host address"),
    ("52:54:00:00:00:0c", "10.100.0.10", "x", "already reserved"),
    (MAC, "10.100.0.11", "x", "already has a reservation"),
    ("52:54:00:00:00:0c", "10.100.0.12", "x", "leased to"),
    ("not-a-mac", "10.100.0.13", "x", "MAC"),
    ("01:00:5e:00:00:01", "10.100.0.13", "x", "multicast"),
    ("52:54:00:00:00:0c", "10.100.0.13", "bad name;", "hostname"),
    ("52:54:00:00:00:0c", "", "x", "ipaddress"),
])
def test_bad_reservations_are_refused_and_change_nothing(
        c: TestClient, store: Store, mac: str, ip: str, hostname: str, words: str) -> None:
    assert reserve(c).status_code == 200
    reservations.record_lease(store, 100, "52:54:00:00:00:0d", "10.100.0.12", "busy",
                              int(time.time()) + 600)
    before = tree.read_all(store)
    r = reserve(c, mac, ip, hostname)
    assert r.status_code == 400, r.text
    assert words.lower() in r.json()["message"].lower()
    assert tree.read_all(store) == before


def test_reservations_need_a_managed_network_that_exists(c: TestClient) -> None:
    assert c.post(f"{API}/network/999/lease",
                  params={"macaddress": MAC, "ipaddress": "10.0.0.1"}).status_code == 404
    add(c, vni="30", description="b30", nettype="bridged", ip4_network=None, ip4_gateway=None,
        dhcp4="False", dhcp4_start=None, dhcp4_end=None)
    r = c.post(f"{API}/network/30/lease", params={"macaddress": MAC, "ipaddress": "10.0.0.1"})
    assert r.status_code == 400 and "no IPv4 network" in r.json()["message"]


def test_a_prefix_change_that_would_strand_a_reservation_is_refused(c: TestClient) -> None:
    assert reserve(c, ip="10.100.0.200").status_code == 200
    r = c.put(f"{API}/network/100", params={"ip4_network": "10.100.0.0/25",
                                            "dhcp4_start": "10.100.0.50",
                                            "dhcp4_end": "10.100.0.60"})
    assert r.status_code == 400 and MAC in r.json()["message"]


def acl(c: TestClient, description: str, rule: str, **params: Any) -> Any:
    return c.post(f"{API}/network/100/acl",
                  params={"description": description, "rule": rule, **params})


def acl_list(c: TestClient, **params: Any) -> list[tuple[str, str, int, str]]:
    r = c.get(f"{API}/network/100/acl", params=params)
    if r.status_code == 404:
        return []
    return [(a["direction"], a["description"], a["order"], a["rule"]) for a in r.json()]


def test_acls_are_ordered_by_position_and_renumbered(c: TestClient) -> None:
    assert acl(c, "ssh", "tcp dport 22 drop").status_code == 200
    assert acl(c, "web", "tcp dport {80,443} accept", direction="in").status_code == 200
    assert acl(c, "first", "ip saddr 10.9.0.0/16 drop", order="1").status_code == 200
    assert acl(c, "out1", "udp dport 53 counter accept", direction="out", order="7").status_code == 200
    assert acl_list(c) == [
        ("in", "first", 1, "ip saddr 10.9.0.0/16 drop"),
        ("in", "ssh", 2, "tcp dport 22 drop"),
        ("in", "web", 3, "tcp dport { 80, 443 } accept"),
        ("out", "out1", 1, "udp dport 53 counter accept"),
    ]
    assert acl_list(c, direction="out") == [("out", "out1", 1, "udp dport 53 counter accept")]
    assert [a[1] for a in acl_list(c, limit="^s")] == ["ssh"]
    one = c.get(f"{API}/network/100/acl/web").json()
    assert one == [{"description": "web", "direction": "in", "order": 3,
                    "rule": "tcp dport { 80, 443 } accept"}]
    assert c.delete(f"{API}/network/100/acl/first").status_code == 200
    assert [(a[1], a[2]) for a in acl_list(c, direction="in")] == [("ssh", 1), ("web", 2)]
    assert c.delete(f"{API}/network/100/acl/first").status_code == 404


@pytest.mark.parametrize(("description", "rule", "params"), [
    ("evil", "tcp dport 22 accept; flush ruleset", {}),
    ("evil", "accept\nadd rule inet filter input accept", {}),
    ("evil", "tcp dport 22 jump input", {}),
    ("evil", "ip saddr $(reboot) drop", {}),
    ("evil", "tcp dport 99999 drop", {}),
    ("evil", "ip saddr 10.0.0.0/33 drop", {}),
    ("evil", "", {}),
    ("ssh", "tcp dport 23 drop", {}),
    ("bad name", "tcp dport 23 drop", {}),
    ("fine", "tcp dport 23 drop", {"direction": "sideways"}),
    ("fine", "tcp dport 23 drop", {"order": "0"}),
])
def test_bad_acls_are_refused_and_change_nothing(c: TestClient, store: Store, description: str,
                                                 rule: str, params: dict[str, Any]) -> None:
    assert acl(c, "ssh", "tcp dport 22 drop").status_code == 200
    before = tree.read_all(store)
    r = acl(c, description, rule, **params)
    assert r.status_code == 400, r.text
    assert r.json()["message"]
    assert tree.read_all(store) == before


def test_sriov_endpoints_answer_that_these_nodes_have_none(c: TestClient) -> None:
    for path in ("/sriov/pf", "/sriov/pf/hv1", "/sriov/vf", "/sriov/vf/hv1",
                 "/sriov/vf/hv1/vf0"):
        r = c.get(API + path)
        assert r.status_code == 404, path
        assert "SR-IOV" in r.json()["message"] or "not found" in r.json()["message"]
    assert c.get(f"{API}/sriov/pf/hv9").json()["message"] == "Node hv9 not found."
    assert c.put(f"{API}/sriov/vf/hv1/vf0", params={"vlan_id": 5}).status_code == 404


def test_every_network_route_of_the_surface_is_served_with_its_parameters(
        c: TestClient) -> None:
    if not SURFACE.exists():
        pytest.skip("the PVC surface reference is not available")
    ops = json.loads(SURFACE.read_text())["operations"]
    expected = {(method, path): {p["name"] for p in op["params"] if p["in"] == "query"}
                for path, item in ops.items()
                if path.startswith(("/api/v1/network", "/api/v1/sriov"))
                for method, op in item.items()}
    doc = c.get(f"{API}/openapi.json").json()
    found = {(method, path): {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
             for path, item in doc["paths"].items()
             if path.startswith(("/api/v1/network", "/api/v1/sriov"))
             for method, op in item.items()}
    assert set(expected) <= set(found)
    for key, params in expected.items():
        assert params <= found[key], key
    unauthenticated = client(c.app.state.store, headers=None)  # type: ignore[attr-defined]
    for method, path in expected:
        url = path.replace("{vni}", "100").replace("{node}", "hv1").replace(
            "{mac}", MAC).replace("{description}", "x").replace("{vf}", "vf0")
        assert unauthenticated.request(method.upper(), url).status_code == 401, (method, path)


def test_network_parameters_may_come_in_a_form_body(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    r = c.post(f"{API}/network", data={**NET, "vni": "102", "description": "formnet"})
    assert r.status_code == 200, r.text
    assert c.get(f"{API}/network/102").json()[0]["description"] == "formnet"
