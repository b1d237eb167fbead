"""DNS aggregation on real parts: a network's dnsmasq (our command line, in a scratch
namespace with the network's bridge), PowerDNS (our config) on a real PostgreSQL with
PowerDNS's own schema, and the zone rows kept by `pvc.db.powerdns`. A guest that takes a
DHCP lease (busybox udhcpc, in a namespace of its own) becomes a name PowerDNS answers;
zones go when their network goes, and zones we did not make are never touched."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pvc.db import powerdns
from pvc.db.engine import Database
from pvc.db.spec import DatabaseSpec
from pvc.drivers.network import dnsmasq
from pvc.drivers.network.powerdns import PDNS_SERVER, PdnsConfig, command, forget, pdns_conf
from tests.integration import pgsupport

SCHEMA = Path("/usr/share/doc/pdns-backend-pgsql/schema.pgsql.sql")
DOMAIN = "net77.example"
GATEWAY = ipaddress.IPv4Address("10.77.0.1")
PDNS_ADDRESS = ipaddress.IPv4Address("10.77.1.1")  # the "floating" address, on lo

pytestmark = pytest.mark.skipif(not (Path(PDNS_SERVER).exists() and SCHEMA.exists()),
                                reason="PowerDNS is not installed (run through ./pvc-dev test)")


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)


def ask(ns: str, code: str) -> object:
    """Run a few lines of dnspython in a namespace; what they print, as JSON."""
    out = sh("ip", "netns", "exec", ns, sys.executable, "-c",
             "import json, dns.query, dns.message, dns.rcode, dns.resolver, dns.zone\n" + code)
    return json.loads(out.stdout)


def lookup(ns: str, server: ipaddress.IPv4Address, name: str, rtype: str = "A") -> object:
    """(rcode name, sorted answer texts) of one query over UDP."""
    return ask(ns, f"""
q = dns.message.make_query({name!r}, {rtype!r})
r = dns.query.udp(q, {str(server)!r}, timeout=2)
print(json.dumps([dns.rcode.to_text(r.rcode()), sorted(rr.to_text() for s in r.answer for rr in s)]))
""")


def transfer(ns: str, server: ipaddress.IPv4Address, zone: str) -> object:
    """The names and A records of a zone taken by AXFR, or the error met."""
    return ask(ns, f"""
try:
    z = dns.zone.from_xfr(dns.query.xfr({str(server)!r}, {zone!r}, timeout=5), check_origin=False)
    print(json.dumps(sorted(f"{{n}} {{r.to_text()}}" for n, _, r in z.iterate_rdatas("A"))))
except Exception as exc:
    print(json.dumps(f"refused: {{type(exc).__name__}}: {{exc}}"))
""")


def wait_for(what: str, check: object, timeout: float = 40.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = check()  # type: ignore[operator]
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.5)


@dataclass
class Rig:
    node: str  # the primary's namespace: bridge, dnsmasq, PowerDNS
    guest: str  # a guest on the bridge
    db: Database
    spec: DatabaseSpec
    workdir: Path
    pdns: PdnsConfig

    def zones(self, wanted: dict[str, str]) -> powerdns.ZoneChanges:
        return self.db.run(lambda s: powerdns.sync_zones(s, wanted))

    def sql(self, query: str, *args: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.spec.conninfo(), autocommit=True) as conn:
            cur = conn.execute(query, args)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description is not None else []


def _start(cmd: list[str], ns: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def rig(pg_server: pgsupport.PgServer, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Rig]:
    tag = uuid.uuid4().hex[:6]
    node, guest = f"pvcd-{tag}", f"pvcg-{tag}"
    workdir = tmp_path_factory.mktemp("dns")
    name = f"dns{tag}"
    spec = pg_server.new_database(name)
    with psycopg.connect(spec.conninfo(), autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())  # type: ignore[call-overload]  # PowerDNS's own
    procs: list[subprocess.Popen[bytes]] = []
    db = Database(spec, retry_for=5)
    try:
        for ns in (node, guest):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", node, "link", "add", "vmbr77", "type", "bridge")
        sh("ip", "-n", node, "addr", "add", f"{GATEWAY}/24", "dev", "vmbr77")
        sh("ip", "-n", node, "addr", "add", f"{PDNS_ADDRESS}/32", "dev", "lo")
        sh("ip", "-n", node, "link", "add", "tap77", "type", "veth", "peer", "name", "eth0",
           "netns", guest)
        sh("ip", "-n", node, "link", "set", "tap77", "master", "vmbr77")
        for ns, dev in ((node, "vmbr77"), (node, "tap77"), (guest, "eth0")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        net = ipaddress.IPv4Network("10.77.0.0/24")
        cfg = dnsmasq.DhcpConfig(
            vni=77, bridge="vmbr77", domain=DOMAIN, mtu=1500, ip4_gateway=GATEWAY,
            ip4_network=net, dhcp4_range=(net[100], net[200]), ip6_network=None,
            ip6_gateway=None, upstream_servers=(), workdir=workdir, hook=Path("/bin/true"),
            log_file=workdir / "dnsmasq.log", zone_peer=GATEWAY)
        procs.append(_start(dnsmasq.command(cfg), node, workdir / "dnsmasq.log"))
        pdns = PdnsConfig(
            addresses=(PDNS_ADDRESS,), port=53, db_hosts=(str(pg_server.workdir),),
            db_port=pg_server.port, db_name=spec.database, db_user=spec.username,
            db_password=spec.password, workdir=workdir / "pdns", log_file=workdir / "pdns.log")
        pdns.workdir.mkdir()
        (pdns.workdir / "pdns.conf").write_text(pdns_conf(pdns))
        procs.append(_start(command(pdns), node, pdns.log_file))
        yield Rig(node, guest, db, spec, workdir, pdns)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        for ns in (guest, node):
            sh("ip", "netns", "del", ns, check=False)
        db.close()
        pg_server.drop_database(name)


def test_a_guest_lease_becomes_a_name_upstream_resolvers_can_ask_for(rig: Rig) -> None:
    def logs() -> str:
        return "".join((rig.workdir / f).read_text(errors="replace")[-1500:]
                       for f in ("pdns.log", "dnsmasq.log"))

    # no zone yet: PowerDNS is no authority for the domain
    assert wait_for("PowerDNS answers", lambda: lookup(
        rig.node, PDNS_ADDRESS, DOMAIN, "SOA") == ["REFUSED", []] or None)
    changes = rig.zones({DOMAIN: str(GATEWAY)})
    assert (changes.added, changes.changed, changes.removed) == ([DOMAIN], [], [])
    assert not rig.zones({DOMAIN: str(GATEWAY)})  # nothing more to do
    # PowerDNS takes the zone from dnsmasq (its SOA names dnsmasq's server)
    soa = wait_for("the zone is copied", lambda: (
        r := lookup(rig.node, PDNS_ADDRESS, DOMAIN, "SOA"))[0] == "NOERROR" and r[1])
    assert str(soa[0]).startswith(f"dns.{DOMAIN}. hostmaster.{DOMAIN}."), (soa, logs())

    # a guest takes a lease with its host name: dnsmasq knows the name at once...
    lease = sh("ip", "netns", "exec", rig.guest, "busybox", "udhcpc", "-i", "eth0", "-f", "-q",
               "-n", "-t", "5", "-T", "1", "-s", "/bin/true", "-x", "hostname:guest7")
    got = re.search(r"lease of ([0-9.]+) obtained", lease.stderr + lease.stdout)
    assert got, lease
    sh("ip", "-n", rig.guest, "addr", "add", f"{got.group(1)}/24", "dev", "eth0")
    sh("ip", "-n", rig.guest, "route", "add", "default", "via", str(GATEWAY))
    found = lookup(rig.guest, GATEWAY, f"guest7.{DOMAIN}")
    assert found[0] == "NOERROR" and len(found[1]) == 1, found  # type: ignore[index]
    address = found[1][0]  # type: ignore[index]
    assert address == got.group(1)
    # ... and PowerDNS within a refresh (the lease moved dnsmasq's serial)
    assert wait_for("the name reaches PowerDNS", lambda: lookup(
        rig.node, PDNS_ADDRESS, f"guest7.{DOMAIN}") == ["NOERROR", [address]] or None,
        timeout=30), logs()
    # anyone may take a copy of the zone from PowerDNS; only the aggregator from dnsmasq
    assert transfer(rig.guest, PDNS_ADDRESS, DOMAIN) == [f"guest7 {address}"]
    assert str(transfer(rig.guest, GATEWAY, DOMAIN)).startswith("refused")
    # the guest's own queries to dnsmasq stay recursive ones: names outside the zone are
    # still asked upstream (there is none here, so: refused, not a wrong "no such name")
    assert lookup(rig.guest, GATEWAY, "example.org")[0] == "REFUSED"  # type: ignore[index]


def test_zones_of_others_are_never_touched_and_ours_go_with_their_network(rig: Rig) -> None:
    rig.sql("INSERT INTO domains (name, type) VALUES ('hand.example', 'NATIVE')")
    changes = rig.zones({DOMAIN: str(GATEWAY), "hand.example": str(GATEWAY)})
    assert changes.foreign == ["hand.example"] and not changes
    assert rig.sql("SELECT master, type, account FROM domains WHERE name = 'hand.example'") \
        == [(None, "NATIVE", None)]
    assert rig.sql("SELECT name, master FROM domains WHERE account = 'pvc'") == [
        (DOMAIN, str(GATEWAY))]
    # the gateway moved: the zone's primary follows
    changes = rig.zones({DOMAIN: "10.77.0.254"})
    assert changes.changed == [DOMAIN]
    rig.zones({DOMAIN: str(GATEWAY)})
    # the network is gone: its zone and every record of it go; the hand-made zone stays
    changes = rig.zones({})
    assert changes.removed == [DOMAIN]
    assert rig.sql("SELECT count(*) FROM records r JOIN domains d ON d.id = r.domain_id "
                   "WHERE d.name = %s", DOMAIN) == [(0,)]
    assert rig.sql("SELECT count(*) FROM records") == [(0,)]
    assert [n for (n,) in rig.sql("SELECT name FROM domains")] == ["hand.example"]
    # PowerDNS's caches are told at once (left alone, they answered for 20 s more here)
    forget(rig.pdns, changes.removed)
    assert wait_for("PowerDNS forgets the zone", lambda: lookup(
        rig.node, PDNS_ADDRESS, f"guest7.{DOMAIN}")[0] == "REFUSED",  # type: ignore[index]
        timeout=5)
