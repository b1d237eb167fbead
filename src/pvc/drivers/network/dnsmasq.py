"""dnsmasq as the DHCP and DNS server of one managed network, on the primary.

`command()` builds its command line from a `DhcpConfig` whose every value was checked
(addresses are `ipaddress` objects, names are validated): no shell, nothing pasted.
It runs in the foreground as a child of the node daemon, dies with it (parent-death
signal), keeps no lease file of its own (`--leasefile-ro`): its lease hook records every
lease in the cluster state and, when dnsmasq starts, hands it the leases recorded there,
so a new primary's dnsmasq knows every lease the old one gave. Static reservations are
files of `--dhcp-hostsdir` (`<mac>,<ip>[,<hostname>]`), read as they change.
"""

from __future__ import annotations

import ipaddress
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from pvc.common import names, procs

DNSMASQ = "/usr/sbin/dnsmasq"
LEASE_TIME = "48h"
LEASE_TIME_V6 = "24h"
# the zone's SOA: the aggregator asks for the serial every ZONE_REFRESH s (each lease
# change moves it) and keeps serving the names for a week if dnsmasq cannot be reached
ZONE_REFRESH = 5
ZONE_EXPIRY = 7 * 86400


@dataclass(frozen=True)
class DhcpConfig:
    vni: int
    bridge: str
    domain: str
    mtu: int
    ip4_gateway: ipaddress.IPv4Address | None
    ip4_network: ipaddress.IPv4Network | None
    dhcp4_range: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None
    ip6_network: ipaddress.IPv6Network | None
    ip6_gateway: ipaddress.IPv6Address | None
    upstream_servers: tuple[str, ...]  # where names outside the domain are asked
    workdir: Path  # pid file, hosts directory
    hook: Path  # the lease hook (an executable file)
    log_file: Path
    # the DNS aggregator's address: it may take the network's zone by AXFR (None: no one)
    zone_peer: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None


def hosts_dir(workdir: Path) -> Path:
    return workdir / "hosts"


def command(cfg: DhcpConfig) -> list[str]:
    bridge = names.interface_name(cfg.bridge)
    domain = cfg.domain
    args = [
        DNSMASQ, "--conf-file=/dev/null", "--keep-in-foreground", "--user=root",
        "--bind-interfaces", f"--interface={bridge}", "--except-interface=lo",
        f"--pid-file={cfg.workdir / 'dnsmasq.pid'}", "--leasefile-ro",
        f"--dhcp-script={cfg.hook}", f"--dhcp-hostsdir={hosts_dir(cfg.workdir)}",
        f"--log-facility={cfg.log_file}", "--log-dhcp",
        f"--domain={domain}", f"--local=/{domain}/", "--expand-hosts", "--no-hosts",
        "--dhcp-authoritative",
    ]
    if cfg.zone_peer is not None and domain:
        # the network's names as an authoritative zone that only the aggregator may copy;
        # no interface is named, so the guests' queries stay recursive ones
        args += [f"--auth-zone={domain}", f"--auth-server=dns.{domain}",
                 f"--auth-peer={ipaddress.ip_address(cfg.zone_peer)}",
                 f"--auth-soa=0,hostmaster.{domain},{ZONE_REFRESH},{ZONE_REFRESH},"
                 f"{ZONE_EXPIRY}"]
    # names outside the domain: only the network's name servers, never the node's resolver
    args.append("--no-resolv")
    args += [f"--server={ipaddress.ip_address(s)}" for s in cfg.upstream_servers]
    if cfg.ip4_gateway is not None and cfg.ip4_network is not None:
        gw = cfg.ip4_gateway
        if cfg.dhcp4_range is not None:
            start, end = cfg.dhcp4_range
            args.append(f"--dhcp-range={start},{end},{cfg.ip4_network.netmask},{LEASE_TIME}")
        args += [f"--dhcp-option=option:router,{gw}", f"--dhcp-option=option:dns-server,{gw}",
                 f"--dhcp-option=option:ntp-server,{gw}", f"--dhcp-option=option:mtu,{cfg.mtu}"]
    if cfg.ip6_network is not None:
        args.append("--enable-ra")
        if cfg.ip4_network is not None:  # dual stack: addresses from SLAAC, names from RA
            args.append(f"--dhcp-range=::,constructor:{bridge},ra-stateless,ra-names")
        else:  # IPv6 only: stateful DHCPv6
            args.append(f"--dhcp-range=::1000,::ffff,constructor:{bridge},64,{LEASE_TIME_V6}")
        if cfg.ip6_gateway is not None:
            args.append(f"--dhcp-option=option6:dns-server,[{cfg.ip6_gateway}]")
    return args


class Dnsmasq(procs.Child):
    """One network's dnsmasq process."""

    def __init__(self, cfg: DhcpConfig) -> None:
        self.cfg = cfg

    def start(self) -> None:
        hosts_dir(self.cfg.workdir).mkdir(parents=True, exist_ok=True)
        # its own messages before it logs go to its log file too
        self.spawn(command(self.cfg), self.cfg.log_file, f"dnsmasq for network {self.cfg.vni}")

    def reload(self) -> None:
        """Read the hosts directory again (a reservation was removed)."""
        if self.alive() and self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)


def write_reservations(workdir: Path, wanted: dict[str, tuple[str, str]]) -> bool:
    """Make the hosts directory hold exactly `wanted` (mac -> (ip, hostname)); whether a
    file was removed (dnsmasq notices new and changed files, but not removals)."""
    where = hosts_dir(workdir)
    where.mkdir(parents=True, exist_ok=True)
    removed = False
    present = {p.name: p for p in where.iterdir()}
    for name, path in present.items():
        if name.replace("-", ":") not in wanted:
            path.unlink(missing_ok=True)
            removed = True
    for mac, (ip, hostname) in wanted.items():
        line = f"{mac},{ipaddress.IPv4Address(ip)}" + (
            f",{names.object_name(hostname, 'hostname')}" if hostname else "") + "\n"
        path = where / mac.replace(":", "-")
        if not path.exists() or path.read_text() != line:
            tmp = workdir / f".{path.name}.new"  # outside the directory dnsmasq reads
            tmp.write_text(line)
            os.replace(tmp, path)
    return removed
