"""Client networks on the development cluster, with real guests: VXLAN bridges on every
node (FRR's BGP EVPN), the primary's gateway, dnsmasq and nftables, and what the guests
themselves see (their serial consoles: leases, and probes by name and address)."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from typing import Any

import pytest

from pvc.common.config import METADATA_ADDRESS
from pvc.devcluster import demo
from pvc.devcluster.guest.xml import GuestNet, Nic
from tests.system.conftest import DevCluster
from tests.system.vmhelpers import (
    aggregated_dns,
    api,
    console,
    info,
    wait_booted,
    wait_running_on,
)

pytestmark = pytest.mark.system

LEASE = re.compile(r"^PVC-NET-LEASE (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) [0-9.]+$")
PROBE = re.compile(r"^pvc-probe (\S+) (\S+) (ok|fail|noaddr) (\d+) ([0-9.]+)$")
STREAM = re.compile(r"^pvc-(stream|gap) stream:\S+ \S+ (?:([0-9.]+) )?([0-9.]+)$")
GW = "10.100.0.1"
A1, A2 = "52:54:00:10:00:01", "52:54:00:10:00:02"


def links(dc: DevCluster, node: str) -> str:
    return dc.dev("exec", node, "--", "ip", "-br", "link", "show").stdout


def addresses(dc: DevCluster, node: str, dev: str) -> str:
    return dc.dev("exec", node, "--", "ip", "-br", "addr", "show", "dev", dev,
                  check=False).stdout


def run_in(dc: DevCluster, node: str, *cmd: str) -> str:
    return dc.dev("exec", node, "--", *cmd, check=False).stdout


def primary(dc: DevCluster) -> str:
    return dc.primary()


def others(dc: DevCluster, *but: str) -> list[str]:
    return [n for n in dc.spec.node_names if n not in but]


def guest(dc: DevCluster, name: str, node: str, nics: list[Nic], *probes: str,
          http_ports: tuple[int, ...] = (), probe_ms: int = 200) -> str:
    xml = demo.vm_xml(dc.spec, name, 128, nics=nics,
                      net=GuestNet(http_ports=http_ports, probes=probes, probe_ms=probe_ms))
    with api(dc) as c:
        r = c.post("/vm", data={"xml": xml}, params={"node": node})
        assert r.status_code == 200, r.text
        r = c.post(f"/vm/{name}/state", params={"state": "start", "wait": "true"})
        assert r.status_code == 200, r.text
    wait_booted(dc, name)
    return str(info(dc, name)["uuid"])


def leases(lines: list[str]) -> list[str]:
    """The addresses the guest bound, in order."""
    return [m.group(2) for line in lines if (m := LEASE.match(line))]


def probes(lines: list[str], probe: str) -> list[tuple[int, str]]:
    return [(int(m.group(4)), m.group(3)) for line in lines
            if (m := PROBE.match(line)) and m.group(1) == probe]


def ok_addresses(lines: list[str], probe: str) -> set[str]:
    """The addresses a probe reached."""
    found = (PROBE.match(line) for line in lines)
    return {m.group(2) for m in found if m and m.group(1) == probe and m.group(3) == "ok"}


def wait_probe(dc: DevCluster, name: str, probe: str, result: str = "ok",
               timeout: float = 60, after: int = -1) -> int:
    """Wait until the guest's probe gave `result` in a round after `after`; that round."""
    found: list[int] = []

    def seen() -> bool:
        found[:] = [r for r, res in probes(console(dc, name), probe) if res == result
                    and r > after]
        return bool(found)

    try:
        dc.wait_for(f"{name}: {probe} {result}", seen, timeout=timeout, interval=0.5)
    except AssertionError as exc:
        tail = "\n".join(console(dc, name)[-15:])
        raise AssertionError(f"{exc}\n{name}'s console ends:\n{tail}\n{network_state(dc)}"
                             ) from None
    return found[0]


def network_state(dc: DevCluster) -> str:
    """Where the gateways, bridges and DHCP servers are (for a failed test's report)."""
    out = [f"primary: {primary(dc)}"]
    for node in dc.spec.node_names:
        out.append(f"{node}: " + " | ".join(
            line for line in run_in(dc, node, "ip", "-br", "addr").splitlines()
            if line.startswith("vmbr")) + " | dnsmasq: "
            + str(run_in(dc, node, "pgrep", "dnsmasq").split()))
    return "\n".join(out)


def last_round(dc: DevCluster, name: str, probe: str) -> int:
    rounds = probes(console(dc, name), probe)
    return rounds[-1][0] if rounds else -1


def stream_clock(dc: DevCluster, name: str) -> float:
    """The guest's clock at the latest line of its 50 ms ping stream (-1: none yet)."""
    return max((float(m.group(3)) for x in console(dc, name) if (m := STREAM.match(x))),
               default=-1.0)


def longest_stream_gap(dc: DevCluster, name: str, since: float) -> float:
    """The longest silence the guest's ping stream printed after its clock said `since`."""
    return max((float(m.group(2)) for x in console(dc, name) if (m := STREAM.match(x))
                and m.group(1) == "gap" and float(m.group(3)) > since), default=0.0)


def failed_rounds(dc: DevCluster, name: str, probe: str, start: int, end: int) -> int:
    return sum(1 for r, res in probes(console(dc, name), probe) if start < r <= end
               and res != "ok")


def network_json(dc: DevCluster, *args: str) -> Any:
    return json.loads(dc.pvc("network", *args, "--format", "json").stdout)


def leased(dc: DevCluster, vni: str = "100") -> dict[str, str]:
    """MAC -> address of the leases and reservations the cluster records."""
    return {e["mac_address"]: e["ip4_address"] for e in network_json(dc, "dhcp", "list", vni)}


@pytest.fixture(scope="module")
def net100(devcluster_3: DevCluster) -> DevCluster:
    dc = devcluster_3
    dc.pvc("network", "add", "100", "--description", "net100", "--type", "managed",
           "--ipnet", "10.100.0.0/24", "--gateway", GW, "--dhcp", "--dhcp-start",
           "10.100.0.100", "--dhcp-end", "10.100.0.199")
    return dc


def test_a_network_exists_on_every_node_within_moments_and_goes_with_its_removal(
        devcluster_3: DevCluster) -> None:
    dc = devcluster_3
    began = time.monotonic()
    dc.pvc("network", "add", "300", "-d", "net300", "-p", "managed", "-i", "10.30.0.0/24")
    dc.wait_for("vxlan300 on every node", lambda: all(
        "vxlan300" in links(dc, n) for n in dc.spec.node_names), timeout=10, interval=0.1)
    assert time.monotonic() - began < 5
    # FRR's EVPN tells every node whom to flood the VNI's broadcasts to: the other nodes
    cluster_ips = {n: str(dc.spec.node_address(n, "cluster").ip) for n in dc.spec.node_names}
    for node in dc.spec.node_names:
        expected = {ip for n, ip in cluster_ips.items() if n != node}
        dc.wait_for(f"flooding entries on {node}", lambda node=node, expected=expected: {
            m.group(1) for m in re.finditer(r"00:00:00:00:00:00 dst (\S+)",
                                            run_in(dc, node, "bridge", "fdb", "show", "dev",
                                                   "vxlan300"))} == expected, timeout=20)
    dc.pvc("network", "remove", "300", "--yes")
    dc.wait_for("vmbr300 gone everywhere", lambda: not any(
        "vmbr300" in links(dc, n) for n in dc.spec.node_names), timeout=10, interval=0.2)


def test_a_node_powered_off_builds_the_networks_made_meanwhile(devcluster_3: DevCluster) -> None:
    dc = devcluster_3
    victim = others(dc, primary(dc))[-1]
    dc.dev("power", victim, "off")
    try:
        # the API's ZooKeeper session may have been with the node just powered off: a
        # write cut short by that says so (503); look, then try again
        def added() -> bool:
            if dc.pvc("network", "info", "310", check=False).returncode == 0:
                return True
            dc.pvc("network", "add", "310", "-d", "net310", "-p", "managed", "-i",
                   "10.31.0.0/24", check=False)
            return False

        dc.wait_for("network 310 created", added, timeout=60, interval=1)
    finally:
        dc.dev("power", victim, "on")
    dc.wait_healthy(180)
    assert "vmbr310" in links(dc, victim) and "vxlan310" in links(dc, victim)
    dc.pvc("node", "ready", victim, "--wait")  # it was fenced: back into service
    dc.pvc("network", "remove", "310", "--yes")


def test_guests_on_two_nodes_get_leases_and_reach_the_gateway_and_each_other_by_name(
        net100: DevCluster) -> None:
    dc = net100
    first, second = others(dc, primary(dc))
    guest(dc, "a1", first, [Nic("vmbr100", A1)], f"ping:{GW}",
          "ping:a2.net100.local", "http:a2.net100.local", f"stream:{GW}",
          f"meta:{METADATA_ADDRESS}")
    guest(dc, "a2", second, [Nic("vmbr100", A2)], f"ping:{GW}",
          "ping:a1.net100.local")
    for name, peer in (("a1", "a2"), ("a2", "a1")):
        wait_probe(dc, name, f"ping:{GW}")
        wait_probe(dc, name, f"ping:{peer}.net100.local")
    wait_probe(dc, "a1", "http:a2.net100.local")
    bound = {name: leases(console(dc, name)) for name in ("a1", "a2")}
    assert all(len(b) >= 1 for b in bound.values()), bound
    listed = {e["mac_address"]: e for e in network_json(dc, "dhcp", "list", "100")}
    assert listed["52:54:00:10:00:01"]["ip4_address"] == bound["a1"][-1]
    assert listed["52:54:00:10:00:02"]["ip4_address"] == bound["a2"][-1]
    assert listed["52:54:00:10:00:01"]["hostname"] == "a1"
    # the guest learned the network's MTU (VXLAN overhead) and gateway from DHCP
    line = next(x for x in console(dc, "a1") if LEASE.match(x))
    assert line.split()[3:6] == [GW, GW, "1450"]


def test_a_guest_reads_its_own_metadata_from_the_primary(net100: DevCluster) -> None:
    """cloud-init's metadata service: the primary holds 169.254.169.254 on its loopback
    and answers a guest, known by its lease, with its own instance-id (its UUID)."""
    dc = net100
    uuid = str(info(dc, "a1")["uuid"])
    holder = primary(dc)
    assert f"{METADATA_ADDRESS}/32" in addresses(dc, holder, "lo")
    assert all(METADATA_ADDRESS not in addresses(dc, n, "lo") for n in others(dc, holder))
    dc.wait_for("a1's instance-id from the metadata service", lambda: any(
        line.startswith(f"pvc-meta meta:{METADATA_ADDRESS} ") and line.split()[-1] == uuid
        for line in console(dc, "a1")), timeout=60, interval=0.5)


def test_a_reservation_gives_the_guest_its_address_on_its_next_boot(net100: DevCluster) -> None:
    dc = net100
    dc.pvc("network", "dhcp", "add", "100", "10.100.0.50", "a2", "52:54:00:10:00:02")
    static = network_json(dc, "dhcp", "list", "100", "--static")
    assert [(e["mac_address"], e["ip4_address"]) for e in static] == [
        ("52:54:00:10:00:02", "10.100.0.50")]
    dc.pvc("vm", "restart", "a2", "--wait", "--yes")
    dc.wait_for("a2 bound 10.100.0.50", lambda: leases(console(dc, "a2"))[-1:] == [
        "10.100.0.50"], timeout=90)
    # a1 finds it under its name at the new address
    dc.wait_for("a1 reaches a2 by name at 10.100.0.50", lambda: "10.100.0.50" in ok_addresses(
        console(dc, "a1")[-50:], "ping:a2.net100.local"), timeout=60)


def test_traffic_between_guests_continues_through_a_live_migration(net100: DevCluster) -> None:
    dc = net100
    probe = "ping:a2.net100.local"
    wait_probe(dc, "a1", probe)
    uuid = str(info(dc, "a2")["uuid"])
    source = str(info(dc, "a2")["node"])
    target = next(n for n in dc.spec.node_names if n not in (source, str(info(dc, "a1")["node"])))
    before = last_round(dc, "a1", probe)
    dc.pvc("vm", "migrate", "a2", "--target", target, "--wait")
    wait_running_on(dc, uuid, [target])
    after = wait_probe(dc, "a1", probe, after=last_round(dc, "a1", probe) + 2)
    lost = failed_rounds(dc, "a1", probe, before, after)
    assert lost <= 2, f"{lost} probes lost across the migration"
    # the NIC moved with it: a2 still reaches the gateway from its new node
    wait_probe(dc, "a2", f"ping:{GW}", after=last_round(dc, "a2", f"ping:{GW}"))


def test_gateway_and_dhcp_follow_the_primary_through_handover_and_power_off(
        net100: DevCluster) -> None:
    dc = net100
    old = primary(dc)
    assert GW in addresses(dc, old, "vmbr100")
    addresses_before = leased(dc)
    probe = f"ping:{GW}"
    start = last_round(dc, "a1", probe)
    clock = dc.wait_for("a1's ping stream", lambda: stream_clock(dc, "a1") > 0)
    dc.pvc("node", "secondary", old, "--wait")
    dc.wait_for("a new primary", lambda: primary(dc) not in ("", old), timeout=30)
    new = primary(dc)
    dc.wait_for(f"the gateway on {new} only", lambda: GW in addresses(dc, new, "vmbr100")
                and GW not in addresses(dc, old, "vmbr100"), timeout=15, interval=0.2)
    assert "dnsmasq" in run_in(dc, new, "pgrep", "-a", "dnsmasq")
    assert "dnsmasq" not in run_in(dc, old, "pgrep", "-a", "dnsmasq")
    # the DNS aggregator went with it: the guests' names resolve upstream through the new
    # primary's PowerDNS (zone copied from its dnsmasq), and the old one runs none
    known = set(addresses_before.values())
    found = dc.wait_for("a1 in the aggregated DNS after the handover", lambda: aggregated_dns(
        dc, "a1.net100.local"), timeout=30)
    assert len(found) == 1 and found[0] in known, (found, known)
    assert "pdns_server" in run_in(dc, new, "pgrep", "-a", "pdns_server")
    assert "pdns_server" not in run_in(dc, old, "pgrep", "-a", "pdns_server")
    back = wait_probe(dc, "a1", probe, after=last_round(dc, "a1", probe))
    assert failed_rounds(dc, "a1", probe, start, back) <= 3
    # measured finer by the stream (a ping every 50 ms): the longest silence
    dc.wait_for("a1's stream after the handover", lambda: stream_clock(dc, "a1") > clock + 2)
    gap = longest_stream_gap(dc, "a1", clock)
    assert gap < 4.0, f"routed traffic silent {gap} s across the handover"
    # now pull the new primary's plug, with no guest on it
    for name in ("a1", "a2"):
        if info(dc, name)["node"] == new:
            dc.pvc("vm", "move", name, "--target", old, "--wait")
    start = last_round(dc, "a1", probe)
    dc.dev("power", new, "off")
    try:
        dc.wait_for("a primary after the power-off", lambda: primary(dc) not in ("", new),
                    timeout=60)
        survivor = primary(dc)
        dc.wait_for(f"the gateway on {survivor}", lambda: GW in addresses(
            dc, survivor, "vmbr100"), timeout=30, interval=0.2)
        back = wait_probe(dc, "a1", probe, after=last_round(dc, "a1", probe), timeout=60)
        assert back > start
        # the new dnsmasq started from the leases in ZooKeeper: nobody got another address
        dc.pvc("vm", "restart", "a1", "--wait", "--yes")
        dc.wait_for("a1 bound again", lambda: len(leases(console(dc, "a1"))) >= 1, timeout=90)
        assert leases(console(dc, "a1"))[-1] == addresses_before[A1]
        assert leased(dc) == addresses_before
    finally:
        dc.dev("power", new, "on")
        dc.wait_healthy(180)
        # fenced, it came back flushed: take it into service again for the next tests
        dc.pvc("node", "ready", new, "--wait")


def upstream_route(dc: DevCluster, subnet: str = "10.100.0.0/24") -> str:
    """The upstream router's route to a client subnet."""
    return dc.dev("exec", "router", "--", "ip", "-4", "route", "show", subnet).stdout


def router_pings(dc: DevCluster, address: str) -> bool:
    return dc.dev("exec", "router", "--", "busybox", "ping", "-c", "2", "-W", "2", address,
                  check=False).returncode == 0


def routed_through_primary(dc: DevCluster, target: str) -> str:
    """Wait until the upstream router routes the client subnet via the primary, alone,
    and reaches `target` through it; the primary."""
    holder = primary(dc)
    via = f"via {dc.spec.node_address(holder, 'upstream').ip} "
    dc.wait_for(f"the router's route to 10.100.0.0/24 via {holder}",
                lambda: via in upstream_route(dc), timeout=30, interval=0.3)
    route = upstream_route(dc)
    assert "proto bgp" in route and route.count(" via ") == 1, route
    # inbound, with no source NAT on the way: the guest answers the router itself
    dc.wait_for(f"the router reaches {target}", lambda: router_pings(dc, target),
                timeout=30, interval=0.5)
    return holder


def test_the_upstream_router_reaches_guests_through_whichever_node_is_primary(
        net100: DevCluster) -> None:
    """FRR on the coordinators announces the client subnets to the upstream BGP peer; only
    the primary has them connected, so the route follows the primary role."""
    dc = net100
    target = leased(dc)[A1]
    before = routed_through_primary(dc, target)
    dc.pvc("node", "secondary", before, "--wait")
    dc.wait_for("a new primary", lambda: primary(dc) not in ("", before), timeout=30)
    assert routed_through_primary(dc, target) != before


def test_an_acl_between_two_networks_blocks_exactly_its_port(net100: DevCluster) -> None:
    dc = net100
    dc.pvc("network", "add", "200", "-d", "net200", "-p", "managed", "-i", "10.200.0.0/24",
           "--dhcp", "--dhcp-start", "10.200.0.100", "--dhcp-end", "10.200.0.199")
    dc.pvc("network", "dhcp", "add", "200", "10.200.0.50", "b1", "52:54:00:20:00:01")
    nodes = others(dc, primary(dc))
    guest(dc, "b1", nodes[0], [Nic("vmbr200", "52:54:00:20:00:01")], http_ports=(8080,))
    guest(dc, "c1", nodes[1], [Nic("vmbr100", "52:54:00:10:00:03")],
          "http:10.200.0.50:80", "http:10.200.0.50:8080")
    p80, p8080 = "http:10.200.0.50:80", "http:10.200.0.50:8080"
    wait_probe(dc, "c1", p80, timeout=90)
    wait_probe(dc, "c1", p8080)
    dc.pvc("network", "acl", "add", "200", "--in", "--description", "no8080",
           "--rule", "tcp dport 8080 drop")
    mark = last_round(dc, "c1", p8080)
    blocked = wait_probe(dc, "c1", p8080, "fail", after=mark, timeout=30)
    # from then on 8080 stays blocked and 80 keeps working
    later = wait_probe(dc, "c1", p80, after=blocked + 2)
    assert all(res == "fail" for r, res in probes(console(dc, "c1"), p8080) if blocked <= r
               <= later)
    assert all(res == "ok" for r, res in probes(console(dc, "c1"), p80) if blocked <= r
               <= later)
    # an invalid ACL is refused and the firewall is left as it was
    ruleset = run_in(dc, primary(dc), "nft", "list", "table", "inet", "pvc")
    assert "tcp dport 8080 drop" in ruleset
    bad = dc.pvc("network", "acl", "add", "200", "--in", "--description", "evil",
                 "--rule", "tcp dport 22 drop; flush ruleset", check=False)
    assert bad.returncode != 0 and "';'" in bad.stdout + bad.stderr
    time.sleep(1)
    assert run_in(dc, primary(dc), "nft", "list", "table", "inet", "pvc") == ruleset
    dc.pvc("network", "acl", "remove", "200", "no8080", "--yes")
    wait_probe(dc, "c1", p8080, after=last_round(dc, "c1", p8080))


def test_a_nic_is_hot_plugged_into_a_running_guest_and_kept_through_migration(
        net100: DevCluster) -> None:
    dc = net100
    mac = "52:54:00:20:00:0a"
    out = dc.pvc("vm", "network", "add", "a1", "200", "--macaddr", mac).stdout
    assert "Attached interface" in out, out
    dc.wait_for("a1 sees the new NIC", lambda: any(
        line.startswith(f"PVC-NET-NIC eth1 {mac} ") for line in console(dc, "a1")),
        timeout=60)
    dc.wait_for("a1 bound an address on network 200", lambda: any(
        ip.startswith("10.200.0.") for ip in leases(console(dc, "a1"))), timeout=60)
    stored = json.loads(dc.pvc("vm", "network", "get", "a1", "--format", "json").stdout)
    assert mac in [n["mac"] for n in stored]
    uuid = str(info(dc, "a1")["uuid"])
    target = next(n for n in dc.spec.node_names if n != info(dc, "a1")["node"])
    dc.pvc("vm", "migrate", "a1", "--target", target, "--force", "--wait")
    wait_running_on(dc, uuid, [target])
    live = run_in(dc, target, "virsh", "-c", "qemu:///system", "dumpxml", uuid)
    assert mac in live
    # unplugged again: gone from the running guest and from its definition
    out = dc.pvc("vm", "network", "remove", "a1", "200").stdout
    assert "Detached interface" in out, out
    assert mac not in run_in(dc, target, "virsh", "-c", "qemu:///system", "dumpxml", uuid)
    stored = json.loads(dc.pvc("vm", "network", "get", "a1", "--format", "json").stdout)
    assert mac not in [n["mac"] for n in stored]


def slaac(prefix: str, mac: str) -> ipaddress.IPv6Address:
    """The address a guest makes from a prefix and its MAC (modified EUI-64)."""
    b = bytes.fromhex(mac.replace(":", ""))
    eui = bytes([b[0] ^ 2]) + b[1:3] + b"\xff\xfe" + b[3:]
    return ipaddress.IPv6Network(prefix)[int.from_bytes(eui, "big")]


def test_ipv6_added_live_gives_the_guests_slaac_addresses_behind_the_gateway(
        net100: DevCluster) -> None:
    """Dual stack added to a network in use: the primary's dnsmasq announces the prefix
    (RA), the running guests configure SLAAC addresses (EUI-64 of their MAC), and the
    gateway reaches them across nodes."""
    dc = net100
    dc.pvc("network", "modify", "100", "--ipnet6", "fd10:100::/64")
    holder = primary(dc)
    dc.wait_for("the IPv6 gateway on the primary", lambda: "fd10:100::1/64" in addresses(
        dc, holder, "vmbr100"), timeout=30, interval=0.3)
    assert network_json(dc, "info", "100")["ip6"]["gateway"] == "fd10:100::1"
    for name, mac in (("a1", A1), ("a2", A2)):
        address = str(slaac("fd10:100::/64", mac))
        dc.wait_for(f"the gateway reaches {name} at {address}", lambda a=address: dc.dev(
            "exec", holder, "--", "busybox", "ping", "-c", "1", "-W", "2", a,
            check=False).returncode == 0, timeout=90, interval=1)


def test_a_network_in_use_is_not_removed_without_force(net100: DevCluster) -> None:
    dc = net100
    refused = dc.pvc("network", "remove", "100", "--yes", check=False)
    assert refused.returncode != 0 and "a1" in refused.stdout + refused.stderr
    assert "vmbr100" in links(dc, primary(dc))
