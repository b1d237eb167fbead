"""`pvc network list|info`, `dhcp list`, `acl list` and `sriov ...` against a fake API:
the requests with their filters, the tables, raw and JSON output, and the 404s that mean
"none" (an empty list, exit 0) or "no such network" (exit 2)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli.network.support import (
    FakeApi,
    acl,
    bridged,
    lease,
    managed,
    missing,
    run,
    vf,
)

WEB = managed(1001, "web", ip6=True)
NETWORKS = [WEB, bridged(101, "office"), managed(200, "nodhcp", dhcp=False)]
LEASES = [lease("web2", "10.233.0.21", "52:54:00:00:00:02", 1700000000),
          lease("web1", "10.233.0.20", "52:54:00:00:00:01")]
ACLS = [acl("drop-all", 2, "drop", "out"), acl("ssh-in", 1, "tcp dport 22 accept"),
        acl("web-in", 0, "tcp dport {80,443} accept")]
NONE = missing("Network not found.")


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lease expiry dates are local time: make that UTC here."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_network_list_table(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network", NETWORKS)
    result = run(api, tmp_path, "network", "list")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("GET", "/network", [])]
    assert result.stdout.splitlines() == [
        "Networks                                        IPv4                              IPv6",
        " VNI  Description  Type      MTU  Domain        Network        Gateway     DHCP   Network         Gateway       DHCP",
        " 101  office       bridged  1500  None          None           None        False  None            None          False",
        " 200  nodhcp       managed  1450  nodhcp.local  10.200.0.0/24  10.200.0.1  False  None            None          False",
        "1001  web          managed  1450  web.local     10.233.0.0/24  10.233.0.1  True   fd00:1001::/64  fd00:1001::1  True",
    ]


def test_network_list_limit_raw_and_json(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network", NETWORKS)
    raw = run(api, tmp_path, "network", "list", "o", "-f", "raw")
    assert raw.stdout == "101\n200\n1001\n"
    as_json = run(api, tmp_path, "network", "list", "--format", "json")
    assert json.loads(as_json.stdout) == NETWORKS  # the API's objects, as they are
    pretty_json = run(api, tmp_path, "network", "list", "-f", "json-pretty")
    assert json.loads(pretty_json.stdout) == NETWORKS
    assert pretty_json.stdout.startswith("[\n  {")
    assert api.requests() == [("GET", "/network", [("limit", "o")]),
                              ("GET", "/network", []), ("GET", "/network", [])]


@pytest.mark.parametrize(("fmt", "shown"), [("pretty", "No networks found.\n"),
                                            ("raw", "\n"), ("json", "[]\n")])
def test_no_networks_is_an_empty_list(tmp_path: Path, fmt: str, shown: str) -> None:
    api = FakeApi()
    api.on("GET", "/network", NONE)
    result = run(api, tmp_path, "network", "list", "-f", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout == shown


INFO = [
    "VNI:          1001",
    "Description:  web",
    "Type:         managed",
    "MTU:          1450",
    "Domain:       web.local",
    "DNS Servers:  10.233.0.1",
    "",
    "IPv4 Network: 10.233.0.0/24",
    "IPv4 Gateway: 10.233.0.1",
    "DHCPv4:       True",
    "DHCPv4 Range: 10.233.0.100 - 10.233.0.199",
    "",
    "IPv6 Network: fd00:1001::/64",
    "IPv6 Gateway: fd00:1001::1",
    "DHCPv6:       True",
]


def test_network_info(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network/1001", [WEB])
    result = run(api, tmp_path, "network", "info", "1001")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == INFO
    assert api.requests() == [("GET", "/network/1001", [])]


def test_network_info_of_other_networks(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network/101", [bridged(101, "office")])
    api.on("GET", "/network/200", [managed(200, "nodhcp", dhcp=False, name_servers=[])])
    office = run(api, tmp_path, "network", "info", "101", "--long")
    assert office.stdout.splitlines() == [  # nothing to address, serve or filter
        "VNI:         101", "Description: office", "Type:        bridged", "MTU:         1500"]
    nodhcp = run(api, tmp_path, "network", "info", "200")
    assert nodhcp.stdout.splitlines()[4:] == [
        "Domain:       nodhcp.local", "DNS Servers:  None", "",
        "IPv4 Network: 10.200.0.0/24", "IPv4 Gateway: 10.200.0.1", "DHCPv4:       False", "",
        "IPv6 Network: None"]
    assert [r[1] for r in api.requests()] == ["/network/101", "/network/200"]


@pytest.mark.parametrize("flag", [["--long"], ["-l"], ["-f", "long"]])
def test_network_info_long_adds_leases_and_acls(tmp_path: Path, flag: list[str]) -> None:
    api = FakeApi()
    api.on("GET", "/network/1001", [WEB])
    api.on("GET", "/network/1001/lease", LEASES)
    api.on("GET", "/network/1001/acl", ACLS)
    result = run(api, tmp_path, "network", "info", "1001", *flag)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        *INFO,
        "",
        "DHCP leases and reservations",
        "Hostname  IP Address   MAC Address        Timestamp",
        "web1      10.233.0.20  52:54:00:00:00:01  static",
        "web2      10.233.0.21  52:54:00:00:00:02  2023-11-14 22:13:20",
        "",
        "Firewall ACLs",
        "Direction  Order  Description  Rule",
        "in             0  web-in       tcp dport {80,443} accept",
        "in             1  ssh-in       tcp dport 22 accept",
        "out            2  drop-all     drop",
    ]
    assert api.requests() == [("GET", "/network/1001", []),
                              ("GET", "/network/1001/lease", [("static", "False")]),
                              ("GET", "/network/1001/acl", [])]


def test_network_info_long_without_leases_or_acls(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network/1001", [WEB])
    api.on("GET", "/network/1001/lease", missing("No leases found."))
    api.on("GET", "/network/1001/acl", missing("No ACLs found."))
    result = run(api, tmp_path, "network", "info", "1001", "--long")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[len(INFO):] == [
        "", "DHCP leases and reservations", "None.", "", "Firewall ACLs", "None."]


def test_network_info_json_and_unknown(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network/1001", [WEB])
    as_json = run(api, tmp_path, "network", "info", "1001", "-f", "json", "--long")
    assert json.loads(as_json.stdout) == WEB
    pretty = run(api, tmp_path, "network", "info", "1001", "-f", "json-pretty")
    assert json.loads(pretty.stdout) == WEB and pretty.stdout.startswith("{\n  ")
    assert [r[1] for r in api.requests()] == ["/network/1001"] * 2  # no leases for JSON
    api.on("GET", "/network/1001", NONE)
    unknown = run(api, tmp_path, "network", "info", "1001")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[-1] == "Error: Network not found."


def test_dhcp_list(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network/1001/lease", LEASES)
    result = run(api, tmp_path, "network", "dhcp", "list", "1001")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Hostname  IP Address   MAC Address        Timestamp",
        "web1      10.233.0.20  52:54:00:00:00:01  static",
        "web2      10.233.0.21  52:54:00:00:00:02  2023-11-14 22:13:20",
    ]
    raw = run(api, tmp_path, "network", "dhcp", "list", "1001", "web", "--static", "-f", "raw")
    assert raw.stdout == ("52:54:00:00:00:01|10.233.0.20|web1\n"
                          "52:54:00:00:00:02|10.233.0.21|web2\n")
    as_json = run(api, tmp_path, "network", "dhcp", "list", "1001", "-s", "-f", "json")
    assert json.loads(as_json.stdout) == LEASES
    assert api.requests() == [
        ("GET", "/network/1001/lease", [("static", "False")]),
        ("GET", "/network/1001/lease", [("limit", "web"), ("static", "True")]),
        ("GET", "/network/1001/lease", [("static", "True")]),
    ]


def test_dhcp_list_empty_or_unknown_network(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network/1001", [WEB])
    api.on("GET", "/network/1001/lease", missing("No leases found."))
    empty = run(api, tmp_path, "network", "dhcp", "list", "1001", "--static")
    assert empty.exit_code == 0, empty.output
    assert empty.stdout == "No static DHCP reservations found.\n"
    assert run(api, tmp_path, "network", "dhcp", "list", "1001", "-f", "json").stdout == "[]\n"
    api.on("GET", "/network/1001", NONE)
    unknown = run(api, tmp_path, "network", "dhcp", "list", "1001")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[-1] == "Error: Network not found."


def test_acl_list(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network/1001/acl", ACLS)
    result = run(api, tmp_path, "network", "acl", "list", "1001")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Direction  Order  Description  Rule",
        "in             0  web-in       tcp dport {80,443} accept",
        "in             1  ssh-in       tcp dport 22 accept",
        "out            2  drop-all     drop",
    ]
    raw = run(api, tmp_path, "network", "acl", "list", "1001", "--in", "-f", "raw")
    assert raw.stdout == "in|0|tcp dport {80,443} accept\nin|1|tcp dport 22 accept\nout|2|drop\n"
    as_json = run(api, tmp_path, "network", "acl", "list", "1001", "ssh", "--out", "-f",
                  "json-pretty")
    assert json.loads(as_json.stdout) == ACLS
    assert api.requests() == [
        ("GET", "/network/1001/acl", []),
        ("GET", "/network/1001/acl", [("direction", "in")]),
        ("GET", "/network/1001/acl", [("limit", "ssh"), ("direction", "out")]),
    ]


def test_acl_list_empty(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/network/1001", [WEB])
    api.on("GET", "/network/1001/acl", missing("No ACLs found."))
    result = run(api, tmp_path, "network", "acl", "list", "1001")
    assert result.exit_code == 0, result.output
    assert result.stdout == "No ACLs found.\n"
    assert api.requests() == [("GET", "/network/1001/acl", []), ("GET", "/network/1001", [])]


def test_sriov_lists(tmp_path: Path) -> None:
    api = FakeApi()
    pfs = [{"phy": "ens1f1", "mtu": "1500", "vfs": []},
           {"phy": "ens1f0", "mtu": "9000", "vfs": ["ens1f0v0", "ens1f0v1"]}]
    vfs = [vf("ens1f0v1", "ens1f0", "52:54:00:aa:00:01", "web1"),
           vf("ens1f0v0", "ens1f0", "52:54:00:aa:00:00")]
    api.on("GET", "/sriov/pf/hv1", pfs)
    api.on("GET", "/sriov/vf/hv1", vfs)
    pf_list = run(api, tmp_path, "network", "sriov", "pf", "list", "hv1")
    assert pf_list.exit_code == 0, pf_list.output
    assert pf_list.stdout.splitlines() == [
        "Device   MTU  VFs",
        "ens1f0  9000  ens1f0v0, ens1f0v1",
        "ens1f1  1500  N/A",
    ]
    vf_list = run(api, tmp_path, "network", "sriov", "vf", "list", "hv1", "ens1f0")
    assert vf_list.stdout.splitlines() == [
        "Device    PF       MTU  MAC Address        Used   Domain",
        "ens1f0v0  ens1f0  9000  52:54:00:aa:00:00  False  N/A",
        "ens1f0v1  ens1f0  9000  52:54:00:aa:00:01  True   web1",
    ]
    raw = run(api, tmp_path, "network", "sriov", "vf", "list", "hv1", "-f", "raw")
    assert raw.stdout == "ens1f0v0\nens1f0v1\n"
    as_json = run(api, tmp_path, "network", "sriov", "pf", "list", "hv1", "-f", "json")
    assert json.loads(as_json.stdout) == pfs
    assert api.requests() == [("GET", "/sriov/pf/hv1", []),
                              ("GET", "/sriov/vf/hv1", [("pf", "ens1f0")]),
                              ("GET", "/sriov/vf/hv1", []), ("GET", "/sriov/pf/hv1", [])]


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["pf", "list", "hv1"], "No SR-IOV PFs found on node hv1.\n"),
        (["vf", "list", "hv1"], "No SR-IOV VFs found on node hv1.\n"),
        (["vf", "list", "hv1", "ens1f0"], "No SR-IOV VFs found on PF ens1f0 of node hv1.\n"),
        (["vf", "list", "hv1", "-f", "json"], "[]\n"),
    ],
)
def test_nodes_without_sriov(tmp_path: Path, args: list[str], shown: str) -> None:
    api = FakeApi()  # every route answers 404
    result = run(api, tmp_path, "network", "sriov", *args)
    assert result.exit_code == 0, result.output
    assert result.stdout == shown


def test_sriov_vf_info(tmp_path: Path) -> None:
    api = FakeApi()
    one = vf("ens1f0v1", "ens1f0", "52:54:00:aa:00:01", "web1")
    one["pci"] = {"domain": "0000", "bus": "3b", "slot": "02", "function": "1"}
    api.on("GET", "/sriov/vf/hv1/ens1f0v1", [one])
    result = run(api, tmp_path, "network", "sriov", "vf", "info", "hv1", "ens1f0v1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Device:            ens1f0v1",
        "PF:                ens1f0 on node hv1",
        "MTU:               9000",
        "MAC Address:       52:54:00:aa:00:01",
        "",
        "VLAN ID:           0",
        "VLAN QoS Priority: 0",
        "Minimum TX Rate:   0",
        "Maximum TX Rate:   0",
        "Link State:        auto",
        "Spoof Checking:    True",
        "VF User Trust:     False",
        "Query RSS:         False",
        "",
        "PCIe Domain:       0000",
        "PCIe Bus:          3b",
        "PCIe Slot:         02",
        "PCIe Function:     1",
        "",
        "Used:              True",
        "Used By:           web1",
    ]
    as_json = run(api, tmp_path, "network", "sriov", "vf", "info", "hv1", "ens1f0v1", "-f",
                  "json")
    assert json.loads(as_json.stdout) == one
    api.on("GET", "/sriov/vf/hv1/ens1f0v1", missing("VF not found."))
    unknown = run(api, tmp_path, "network", "sriov", "vf", "info", "hv1", "ens1f0v1")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[-1] == "Error: VF not found."
