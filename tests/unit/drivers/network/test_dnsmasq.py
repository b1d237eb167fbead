"""dnsmasq's command line for a managed network, and its reservation files."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pvc.drivers.network.dnsmasq import DhcpConfig, command, hosts_dir, write_reservations


def config(tmp_path: Path, ip6: bool = False, ip4: bool = True,
           zone_peer: str | None = None) -> DhcpConfig:
    return DhcpConfig(
        vni=100, bridge="vmbr100", domain="net100.local", mtu=1450,
        ip4_gateway=ipaddress.IPv4Address("10.100.0.1") if ip4 else None,
        ip4_network=ipaddress.IPv4Network("10.100.0.0/24") if ip4 else None,
        dhcp4_range=(ipaddress.IPv4Address("10.100.0.100"),
                     ipaddress.IPv4Address("10.100.0.199")) if ip4 else None,
        ip6_network=ipaddress.IPv6Network("fd00:100::/64") if ip6 else None,
        ip6_gateway=ipaddress.IPv6Address("fd00:100::1") if ip6 else None,
        upstream_servers=("9.9.9.9",), workdir=tmp_path, hook=tmp_path / "hook",
        log_file=tmp_path / "log",
        zone_peer=ipaddress.ip_address(zone_peer) if zone_peer else None)


def test_an_ipv4_network_serves_dhcp_and_dns_pointing_at_its_gateway(tmp_path: Path) -> None:
    args = command(config(tmp_path))
    assert args[0] == "/usr/sbin/dnsmasq"
    for wanted in ("--interface=vmbr100", "--bind-interfaces", "--leasefile-ro",
                   "--dhcp-range=10.100.0.100,10.100.0.199,255.255.255.0,48h",
                   "--dhcp-option=option:router,10.100.0.1",
                   "--dhcp-option=option:dns-server,10.100.0.1",
                   "--dhcp-option=option:ntp-server,10.100.0.1",
                   "--dhcp-option=option:mtu,1450", "--domain=net100.local",
                   "--local=/net100.local/", "--no-resolv", "--server=9.9.9.9",
                   "--dhcp-authoritative", f"--dhcp-script={tmp_path / 'hook'}",
                   f"--dhcp-hostsdir={tmp_path / 'hosts'}"):
        assert wanted in args, wanted
    assert not any(a.startswith("--enable-ra") for a in args)


def test_ipv6_is_stateless_beside_ipv4_and_stateful_alone(tmp_path: Path) -> None:
    dual = command(config(tmp_path, ip6=True))
    assert "--enable-ra" in dual
    assert "--dhcp-range=::,constructor:vmbr100,ra-stateless,ra-names" in dual
    alone = command(config(tmp_path, ip6=True, ip4=False))
    assert "--dhcp-range=::1000,::ffff,constructor:vmbr100,64,24h" in alone
    assert not any("option:router" in a for a in alone)


def test_the_zone_is_authoritative_and_copied_only_by_the_aggregator(tmp_path: Path) -> None:
    plain = command(config(tmp_path))
    assert not any(a.startswith("--auth-") for a in plain)
    args = command(config(tmp_path, zone_peer="10.100.0.1"))
    auth = [a for a in args if a.startswith("--auth-")]
    assert auth == ["--auth-zone=net100.local", "--auth-server=dns.net100.local",
                    "--auth-peer=10.100.0.1",
                    "--auth-soa=0,hostmaster.net100.local,5,5,604800"]
    # still a recursive server for the guests, asking only the network's name servers
    assert "--server=9.9.9.9" in args and "--interface=vmbr100" in args


def test_reservation_files_follow_the_reservations(tmp_path: Path) -> None:
    wanted = {"52:54:00:00:00:01": ("10.100.0.10", "web1"),
              "52:54:00:00:00:02": ("10.100.0.11", "")}
    assert write_reservations(tmp_path, wanted) is False
    files = {p.name: p.read_text() for p in hosts_dir(tmp_path).iterdir()}
    assert files == {"52-54-00-00-00-01": "52:54:00:00:00:01,10.100.0.10,web1\n",
                     "52-54-00-00-00-02": "52:54:00:00:00:02,10.100.0.11\n"}
    # dnsmasq sees new and changed files by itself; a removal needs a reload
    assert write_reservations(tmp_path, {"52:54:00:00:00:01": ("10.100.0.12", "web1")}) is True
    assert [p.name for p in hosts_dir(tmp_path).iterdir()] == ["52-54-00-00-00-01"]
    assert not list(tmp_path.glob(".*.new"))
