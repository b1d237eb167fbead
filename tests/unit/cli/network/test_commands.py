"""`pvc network` write commands against a fake API: the exact requests (all in the query
string, booleans as True/False, repeated name_servers), confirmations that change
nothing when declined, the API's refusals, and command-line mistakes caught before any
request."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.network.support import FakeApi, Query, refused, run

OK = {"message": "Network 1001 updated."}
MAC = "52:54:00:12:34:56"


@pytest.mark.parametrize(
    ("args", "method", "path", "query"),
    [
        (["add", "101", "-d", "office", "-p", "bridged"], "POST", "/network",
         [("vni", "101"), ("nettype", "bridged"), ("description", "office"),
          ("dhcp4", "False")]),
        (["add", "1001", "--description", "web", "--type", "managed", "--mtu", "1400",
          "--domain", "web.local", "--dns-server", "10.1.1.1", "--dns-server", "9.9.9.9",
          "--ipnet", "10.1.1.0/24", "--gateway", "10.1.1.1", "--ipnet6", "fd00:1::/64",
          "--gateway6", "fd00:1::1", "--dhcp", "--dhcp-start", "10.1.1.100",
          "--dhcp-end", "10.1.1.199"], "POST", "/network",
         [("vni", "1001"), ("nettype", "managed"), ("description", "web"), ("mtu", "1400"),
          ("domain", "web.local"), ("name_servers", "10.1.1.1"), ("name_servers", "9.9.9.9"),
          ("ip4_network", "10.1.1.0/24"), ("ip4_gateway", "10.1.1.1"), ("dhcp4", "True"),
          ("dhcp4_start", "10.1.1.100"), ("dhcp4_end", "10.1.1.199"),
          ("ip6_network", "fd00:1::/64"), ("ip6_gateway", "fd00:1::1")]),
        (["add", "1002", "-d", "v6", "-p", "managed", "-m", "", "-i6", "fd00:2::/64",
          "-g6", "fd00:2::1", "-i", "10.2.0.0/24", "-g", "10.2.0.1", "--dhcp", "-s",
          "10.2.0.10", "-e", "10.2.0.20"], "POST", "/network",
         [("vni", "1002"), ("nettype", "managed"), ("description", "v6"),
          ("ip4_network", "10.2.0.0/24"), ("ip4_gateway", "10.2.0.1"), ("dhcp4", "True"),
          ("dhcp4_start", "10.2.0.10"), ("dhcp4_end", "10.2.0.20"),
          ("ip6_network", "fd00:2::/64"), ("ip6_gateway", "fd00:2::1")]),
        (["modify", "1001", "--gateway", "10.1.1.254", "--no-dhcp"], "PUT", "/network/1001",
         [("ip4_gateway", "10.1.1.254"), ("dhcp4", "False")]),
        (["modify", "1001", "-d", "www", "--mtu", "", "--ipnet6", "",
          "--dns-server", "1.1.1.1", "--dns-server", "8.8.8.8"], "PUT", "/network/1001",
         [("description", "www"), ("mtu", ""), ("name_servers", "1.1.1.1"),
          ("name_servers", "8.8.8.8"), ("ip6_network", "")]),
        (["modify", "1001", "--dhcp", "--dhcp-start", "10.1.1.50"], "PUT", "/network/1001",
         [("dhcp4", "True"), ("dhcp4_start", "10.1.1.50")]),
        (["dhcp", "add", "1001", "10.1.1.20", "web1", MAC], "POST", "/network/1001/lease",
         [("macaddress", MAC), ("ipaddress", "10.1.1.20"), ("hostname", "web1")]),
        (["acl", "add", "1001", "-d", "ssh-in", "-r", "tcp dport 22 ct state new accept"],
         "POST", "/network/1001/acl",
         [("description", "ssh-in"), ("direction", "in"),
          ("rule", "tcp dport 22 ct state new accept")]),
        (["acl", "add", "1001", "--out", "--description", "deny", "--rule", "drop",
          "--order", "3"], "POST", "/network/1001/acl",
         [("description", "deny"), ("direction", "out"), ("order", "3"), ("rule", "drop")]),
        (["acl", "add", "1001", "--in", "-d", "web", "-r", "tcp dport 443 accept", "-o", "0"],
         "POST", "/network/1001/acl",
         [("description", "web"), ("direction", "in"), ("order", "0"),
          ("rule", "tcp dport 443 accept")]),
    ],
)
def test_writes_send_one_request_and_print_the_message(
    tmp_path: Path, args: list[str], method: str, path: str, query: Query
) -> None:
    api = FakeApi()
    api.on(method, path, OK)
    result = run(api, tmp_path, "network", *args)
    assert result.exit_code == 0, result.output
    assert api.requests() == [(method, path, query)]
    assert api.seen[0].body == b""
    assert result.stdout == "Network 1001 updated.\n"
    assert 'Using connection "lab"' in result.stderr


@pytest.mark.parametrize(
    ("args", "path", "query", "prompt"),
    [
        (["remove", "1001"], "/network/1001", [], "Remove network 1001"),
        (["remove", "1001", "--force"], "/network/1001", [("force", "True")],
         "Remove network 1001"),
        (["dhcp", "remove", "1001", MAC], f"/network/1001/lease/{MAC}", [],
         f"Remove the DHCP reservation of {MAC} from network 1001"),
        (["acl", "remove", "1001", "ssh-in"], "/network/1001/acl/ssh-in", [],
         'Remove firewall rule "ssh-in" from network 1001'),
    ],
)
def test_removals_ask_first(
    tmp_path: Path, args: list[str], path: str, query: Query, prompt: str
) -> None:
    api = FakeApi()
    api.on("DELETE", path, {"message": "Removed."})
    declined = run(api, tmp_path, "network", *args, stdin="n\n")
    assert declined.exit_code == 0
    assert prompt in declined.stderr and "Aborted." in declined.stderr
    assert declined.stdout == ""
    unanswered = run(api, tmp_path, "network", *args)  # a closed stdin is a no
    assert unanswered.exit_code == 0
    assert api.seen == []  # nothing was sent, let alone a DELETE
    for extra, unsafe in ((["-y"], False), (["--yes"], False), ([], True)):
        result = run(api, tmp_path, "network", *args, *extra, unsafe=unsafe)
        assert result.exit_code == 0, result.output
        assert result.stdout == "Removed.\n"
    accepted = run(api, tmp_path, "network", *args, stdin="y\n")
    assert accepted.exit_code == 0 and accepted.stdout == "Removed.\n"
    assert api.requests() == [("DELETE", path, query)] * 4


@pytest.mark.parametrize(
    ("args", "method", "path", "message"),
    [
        (["add", "1001", "-d", "web", "-p", "managed", "--dhcp"], "POST", "/network",
         "A DHCP start and end address must be given when DHCP is enabled."),
        (["remove", "1001", "-y"], "DELETE", "/network/1001",
         "Network 1001 is in use by VMs web1, web2; remove them from it or use force."),
        (["dhcp", "add", "1001", "10.9.9.9", "web1", MAC], "POST", "/network/1001/lease",
         "IP address 10.9.9.9 is not in network 10.1.1.0/24."),
        (["acl", "add", "1001", "-d", "ssh-in", "-r", "tcp dport 22 accept"], "POST",
         "/network/1001/acl", 'An ACL named "ssh-in" already exists in network 1001.'),
    ],
)
def test_refusals_print_the_api_message_and_fail(
    tmp_path: Path, args: list[str], method: str, path: str, message: str
) -> None:
    api = FakeApi()
    api.on(method, path, refused(message))
    result = run(api, tmp_path, "network", *args)
    assert result.exit_code == 5
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert len(api.seen) == 1  # a write is never repeated


def test_unknown_network_on_modify(tmp_path: Path) -> None:
    api = FakeApi()
    result = run(api, tmp_path, "network", "modify", "77", "-d", "x")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Nothing here."


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["modify", "1001"], "at least one setting"),
        (["add", "1001", "-d", "web"], "--type"),
        (["add", "1001", "-p", "managed"], "--description"),
        (["add", "1001", "-d", "web", "-p", "routed"], "routed"),
        (["add", "web", "-d", "web", "-p", "managed"], "web"),
        (["add", "0", "-d", "web", "-p", "managed"], "0"),
        (["add", "1001", "-d", "web", "-p", "managed", "-m", "jumbo"], "jumbo"),
        (["modify", "1001", "--mtu", "0"], "positive"),
        (["dhcp", "add", "1001", MAC, "10.1.1.20", "web1"], "VNI IPADDR HOSTNAME MACADDR"),
        (["dhcp", "add", "1001", "10.1.1.20", "web1", "not-a-mac"], "not a MAC address"),
        (["acl", "add", "1001", "-d", "x"], "--rule"),
        (["acl", "add", "1001", "-d", "x", "-r", "drop", "-o", "-1"], "-1"),
        (["dhcp", "remove", "1001"], "MACADDR"),
    ],
)
def test_command_line_mistakes_send_nothing(tmp_path: Path, args: list[str], hint: str) -> None:
    api = FakeApi()
    result = run(api, tmp_path, "network", *args)
    assert result.exit_code == 2
    assert hint in result.stderr
    assert api.seen == []
