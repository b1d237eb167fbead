"""The services of the managed networks, on the coordinators: the firewall; on the primary
the gateway addresses (held by the primary's address keeper, so they go wherever the floating
addresses go) and one dnsmasq per network with its static reservations.

One thread does all of it, woken by changes of the networks (`NetworkWatch`), by the link
reconciler after it built a bridge, and by the primary role coming or going; and every
`RESYNC` seconds anyway (a dnsmasq that exited is started again).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from pathlib import Path

from pvc.common import procs
from pvc.common.config import Config
from pvc.common.errors import PVCError
from pvc.drivers.network.dnsmasq import DhcpConfig, Dnsmasq, write_reservations
from pvc.drivers.network.firewall import Firewall
from pvc.drivers.network.links import Links
from pvc.drivers.network.linux import Interface, IpRoute
from pvc.node.network import firewall, leasehook
from pvc.node.network.datapath import OURS, bridge_name
from pvc.node.network.dns import DnsAggregator
from pvc.node.network.watch import NetworkWatch
from pvc.node.primary.services import PrimaryServices
from pvc.ops.network import records
from pvc.ops.network.spec import NetworkSpec, limits_of
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")

RESYNC = 5.0
SYSCTLS = {
    # the primary routes the managed networks
    "net/ipv4/ip_forward": "1",
    "net/ipv6/conf/all/forwarding": "1",
    # traffic bridged inside one network is not the routed traffic the ACLs filter
    "net/bridge/bridge-nf-call-iptables": "0",
    "net/bridge/bridge-nf-call-ip6tables": "0",
}


def gateways(specs: list[NetworkSpec]) -> set[tuple[str, Interface]]:
    out: set[tuple[str, Interface]] = set()
    for n in specs:
        if not n.managed:
            continue
        if n.ip4.network is not None and n.ip4.gateway is not None:
            out.add((bridge_name(n.vni), ipaddress.IPv4Interface(
                f"{n.ip4.gateway}/{n.ip4.network.prefixlen}")))
        if n.ip6.network is not None and n.ip6.gateway is not None:
            out.add((bridge_name(n.vni), ipaddress.IPv6Interface(
                f"{n.ip6.gateway}/{n.ip6.network.prefixlen}")))
    return out


def zone_peer(spec: NetworkSpec) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Where the DNS aggregator (on this node) finds the network's dnsmasq, and so the
    address it asks from: the network's gateway."""
    return spec.ip4.gateway if spec.ip4.gateway is not None else spec.ip6.gateway


class NetworkServices:
    def __init__(self, store: Store, node: str, config: Config, primary: PrimaryServices,
                 links: Links, fw: Firewall, sysctl_root: Path | None = Path("/proc/sys")
                 ) -> None:
        self.store = store
        self.node = node
        self.config = config
        self.primary = primary
        self.links = links
        self.firewall = fw
        self.sysctl_root = sysctl_root
        self.limits = limits_of(config)
        self.workdir = config.dynamic_directory / "dnsmasq"
        self.log_dir = config.system_log_directory
        self.hosts = config.zookeeper_hosts(prefer=node)
        self.nat_device = (config.networks["upstream"].device
                           if config.guest_source_nat else None)
        self.dnsmasq: dict[int, Dnsmasq] = {}
        self.dns = DnsAggregator(config) if config.dns_aggregation else None
        self._is_primary = False
        self._lock = threading.RLock()  # the dnsmasq processes: this thread and the role's
        self._applied_rules: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="network-services",
                                        daemon=True)

    def start(self, watch: NetworkWatch) -> None:
        """Before this node can be primary: it holds no gateway yet."""
        self._set_sysctls()
        self._remove_stray_gateways()
        watch.subscribe(self._wake.set)
        self.primary.listeners.append(self.on_primary)
        if self.dns is not None:
            self.dns.start()
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def on_primary(self, primary: bool) -> None:
        """The primary role came (addresses held, API up) or is about to go."""
        self._is_primary = primary
        if not primary:
            with self._lock:  # before the addresses go: no DHCP answers from a secondary
                self._stop_dnsmasq()
            if self.dns is not None:
                self.dns.retire()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        with self._lock:
            self._stop_dnsmasq()
        if self.dns is not None:
            self.dns.stop()

    def _remove_stray_gateways(self) -> None:
        """A node that went down without giving its gateways back (its keeper killed with
        it, its links kept) must not answer for them next to the primary that has them."""
        ip = IpRoute()
        for name in self.links.links():
            if not (name.startswith("vmbr") and OURS.match(name)):
                continue
            try:
                for addr in ip.addresses(name):
                    ip.remove_address(name, addr)
                    log.warning("Removed %s from %s: a gateway left from before", addr, name)
            except PVCError as exc:
                log.error("Could not clear the addresses of %s: %s", name, exc)

    def _set_sysctls(self) -> None:
        if self.sysctl_root is None:
            return
        for key, value in SYSCTLS.items():
            path = self.sysctl_root / key
            try:
                if path.read_text().strip() != value:
                    path.write_text(value)
            except OSError as exc:
                log.warning("Could not set %s to %s: %s", key.replace("/", "."), value, exc)

    def _run(self) -> None:
        for _ in procs.wakes(self._stop, self._wake, RESYNC):
            try:
                with self._lock:
                    self.sync()
            except PVCError as exc:
                log.warning("Could not bring the network services up to date: %s", exc)
                self._stop.wait(1.0)
                self._wake.set()

    # -- one pass ---------------------------------------------------------------------
    def sync(self) -> None:
        specs = records.read_all(self.store)
        managed = [s.vni for s in specs if s.managed]
        found = self.store.read_many([("network.acls", {"vni": v}) for v in managed])
        rules = {v: r or {} for v, r in zip(managed, found, strict=True)}
        text = firewall.ruleset(specs, rules, self.nat_device)
        if text != self._applied_rules:
            self.firewall.apply(text)
            self._applied_rules = text
            log.info("Applied the client networks' firewall (%d networks, %d ACLs)",
                     len(rules), sum(len(r[d]) for r in rules.values() for d in r))
        if not self._is_primary:
            self._stop_dnsmasq()
            if self.dns is not None:
                self.dns.retire()
            return
        present = set(self.links.links())
        built = [s for s in specs if s.managed and bridge_name(s.vni) in present]
        for error in self.primary.set_extra(gateways(built)):
            log.error("Gateway address: %s", error)
        self._serve(built)
        if self.dns is not None:
            self.dns.want({s.domain: str(peer) for s in built
                           if s.domain and (peer := zone_peer(s)) is not None})

    def _serve(self, specs: list[NetworkSpec]) -> None:
        wanted = {s.vni: s for s in specs}
        for vni in sorted(set(self.dnsmasq) - set(wanted)):
            self.dnsmasq.pop(vni).stop()
            log.info("Stopped DHCP and DNS of network %s", vni)
        for vni, spec in wanted.items():
            cfg = self._dhcp_config(spec)
            current = self.dnsmasq.get(vni)
            removed = write_reservations(cfg.workdir, {
                mac: (str(r.get("ip4")), str(r.get("hostname") or ""))
                for mac, r in records.reservations(self.store, vni)})
            if current is not None and current.cfg == cfg and current.alive():
                if removed:
                    current.reload()
                continue
            if current is not None:
                if current.cfg == cfg:
                    log.warning("dnsmasq of network %s exited (code %s): starting it again",
                                vni, current.exit_code())
                current.stop()
            cfg.workdir.mkdir(parents=True, exist_ok=True)
            leasehook.write_hook(cfg.hook, vni, self.hosts)
            server = Dnsmasq(cfg)
            server.start()
            self.dnsmasq[vni] = server
            log.info("Started DHCP and DNS of network %s (%s)", vni, spec.domain)

    def _dhcp_config(self, spec: NetworkSpec) -> DhcpConfig:
        workdir = self.workdir / str(spec.vni)
        ip4 = spec.ip4
        return DhcpConfig(
            vni=spec.vni, bridge=bridge_name(spec.vni), domain=spec.domain or "",
            mtu=spec.effective_mtu(self.limits), ip4_gateway=ip4.gateway,
            ip4_network=ip4.network,
            dhcp4_range=((ip4.dhcp_start, ip4.dhcp_end) if ip4.dhcp and ip4.dhcp_start
                         and ip4.dhcp_end else None),
            ip6_network=spec.ip6.network, ip6_gateway=spec.ip6.gateway,
            upstream_servers=spec.name_servers, workdir=workdir, hook=workdir / "lease-hook",
            log_file=self.log_dir / f"dnsmasq-{spec.vni}.log",
            zone_peer=zone_peer(spec) if self.dns is not None else None)

    def _stop_dnsmasq(self) -> None:
        for vni in sorted(self.dnsmasq):
            self.dnsmasq.pop(vni).stop()
            log.info("Stopped DHCP and DNS of network %s", vni)
