"""`NetworkApi` on its own: the exact request of every method (paths, query pairs in
order, booleans as True/False, repeated name_servers, `static` always sent), list and
single-object answers, and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pvc.client.network.api import NetworkApi
from pvc.common.errors import InvalidArgument, NotFound
from tests.unit.cli.network.support import (
    FakeApi,
    client,
    lease,
    managed,
    missing,
    refused,
)

OK = {"message": "done"}
Call = Callable[[NetworkApi], Any]


@pytest.mark.parametrize(
    ("call", "method", "path", "query"),
    [
        (lambda n: n.network_add(100, "net1", "managed"), "POST", "/network",
         [("vni", "100"), ("nettype", "managed"), ("description", "net1")]),
        (lambda n: n.network_add(
            1001, "web", "managed", mtu=1400, domain="web.local",
            name_servers=["10.1.1.1", "1.1.1.1"], ip4_network="10.1.1.0/24",
            ip4_gateway="10.1.1.1", dhcp4=True, dhcp4_start="10.1.1.100",
            dhcp4_end="10.1.1.199", ip6_network="fd00:1::/64", ip6_gateway="fd00:1::1"),
         "POST", "/network",
         [("vni", "1001"), ("nettype", "managed"), ("description", "web"), ("mtu", "1400"),
          ("domain", "web.local"), ("name_servers", "10.1.1.1"), ("name_servers", "1.1.1.1"),
          ("ip4_network", "10.1.1.0/24"), ("ip4_gateway", "10.1.1.1"), ("dhcp4", "True"),
          ("dhcp4_start", "10.1.1.100"), ("dhcp4_end", "10.1.1.199"),
          ("ip6_network", "fd00:1::/64"), ("ip6_gateway", "fd00:1::1")]),
        (lambda n: n.network_add(101, "vlan", "bridged", dhcp4=False), "POST", "/network",
         [("vni", "101"), ("nettype", "bridged"), ("description", "vlan"),
          ("dhcp4", "False")]),
        (lambda n: n.network_modify(1001, dhcp4=False), "PUT", "/network/1001",
         [("dhcp4", "False")]),
        (lambda n: n.network_modify(1001, mtu="", ip6_network="", name_servers=["9.9.9.9"]),
         "PUT", "/network/1001",
         [("mtu", ""), ("name_servers", "9.9.9.9"), ("ip6_network", "")]),
        (lambda n: n.network_remove(1001), "DELETE", "/network/1001", []),
        (lambda n: n.network_remove(1001, force=True), "DELETE", "/network/1001",
         [("force", "True")]),
        (lambda n: n.reservation_add(1001, "52:54:00:12:34:56", "10.1.1.20", "web1"), "POST",
         "/network/1001/lease",
         [("macaddress", "52:54:00:12:34:56"), ("ipaddress", "10.1.1.20"),
          ("hostname", "web1")]),
        (lambda n: n.reservation_remove(1001, "52:54:00:12:34:56"), "DELETE",
         "/network/1001/lease/52:54:00:12:34:56", []),
        (lambda n: n.acl_add(1001, "ssh-in", "tcp dport 22 accept"), "POST",
         "/network/1001/acl",
         [("description", "ssh-in"), ("direction", "in"), ("rule", "tcp dport 22 accept")]),
        (lambda n: n.acl_add(1001, "drop-out", "drop", "out", 0), "POST",
         "/network/1001/acl",
         [("description", "drop-out"), ("direction", "out"), ("order", "0"),
          ("rule", "drop")]),
        (lambda n: n.acl_remove(1001, "ssh-in"), "DELETE", "/network/1001/acl/ssh-in", []),
    ],
)
def test_writes_send_everything_in_the_query_string(
    call: Call, method: str, path: str, query: list[tuple[str, str]]
) -> None:
    api = FakeApi()
    api.on(method, path, OK)
    assert call(client(api)) == "done"
    assert api.requests() == [(method, path, query)]
    assert api.seen[0].body == b""


@pytest.mark.parametrize(
    ("call", "path", "query"),
    [
        (lambda n: n.network_list(), "/network", []),
        (lambda n: n.network_list("^10"), "/network", [("limit", "^10")]),
        (lambda n: n.lease_list(1001), "/network/1001/lease", [("static", "False")]),
        (lambda n: n.lease_list(1001, "web", static=True), "/network/1001/lease",
         [("limit", "web"), ("static", "True")]),
        (lambda n: n.acl_list(1001), "/network/1001/acl", []),
        (lambda n: n.acl_list(1001, "ssh", "out"), "/network/1001/acl",
         [("limit", "ssh"), ("direction", "out")]),
        (lambda n: n.sriov_pf_list(), "/sriov/pf", []),
        (lambda n: n.sriov_pf_list("hv1"), "/sriov/pf/hv1", []),
        (lambda n: n.sriov_vf_list("hv1"), "/sriov/vf/hv1", []),
        (lambda n: n.sriov_vf_list("hv1", "ens1f0"), "/sriov/vf/hv1", [("pf", "ens1f0")]),
    ],
)
def test_list_queries(call: Call, path: str, query: list[tuple[str, str]]) -> None:
    api = FakeApi()
    item = {"phy": "x"}
    api.on("GET", path, [item, "junk"])
    assert call(client(api)) == [item]  # non-objects are dropped
    api.on("GET", path, item)
    assert call(client(api)) == [item]  # a lone object is a list of one
    assert api.requests() == [("GET", path, query)] * 2


@pytest.mark.parametrize(
    ("call", "path", "obj"),
    [
        (lambda n: n.network_info(100), "/network/100", managed(100, "net1")),
        (lambda n: n.lease_info(100, "52:54:00:00:00:01"), "/network/100/lease/52:54:00:00:00:01",
         lease("a", "10.100.0.5", "52:54:00:00:00:01")),
        (lambda n: n.acl_info(100, "ssh in"), "/network/100/acl/ssh in",
         {"description": "ssh in", "direction": "in", "order": 1, "rule": "accept"}),
        (lambda n: n.sriov_vf_info("hv1", "ens1f0v3"), "/sriov/vf/hv1/ens1f0v3",
         {"phy": "ens1f0v3"}),
    ],
)
def test_single_object_gets(call: Call, path: str, obj: dict[str, Any]) -> None:
    api = FakeApi()
    api.on("GET", path, [obj])
    assert call(client(api)) == obj
    api.on("GET", path, obj)
    assert call(client(api)) == obj
    for bad in ([], [obj, obj]):
        api.on("GET", path, bad)
        with pytest.raises(NotFound, match="not found"):
            call(client(api))


def test_path_segments_are_escaped() -> None:
    api = FakeApi()
    api.on("DELETE", "/network/100/acl/a/b", OK)
    client(api).acl_remove(100, "a/b")
    assert api.seen[0].raw_path == b"/api/v1/network/100/acl/a%2Fb"


def test_errors_carry_the_api_message() -> None:
    api = FakeApi()
    api.on("POST", "/network", refused("A network with VNI 100 already exists."))
    with pytest.raises(InvalidArgument, match="already exists"):
        client(api).network_add(100, "net1", "managed")
    api.on("GET", "/network", missing("Network not found."))
    with pytest.raises(NotFound, match="Network not found"):
        client(api).network_list()
    assert len(api.seen) == 2  # a write is sent once
