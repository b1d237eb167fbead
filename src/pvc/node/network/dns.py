"""The DNS aggregator, on the primary: PowerDNS on the floating addresses (cluster and
upstream) serving one zone per managed network, each a copy of the network's dnsmasq zone
(`pvc.drivers.network.powerdns`), so upstream resolvers can resolve the guests' names and
take copies of the zones.

The network services tell it which zones there are (`want`) when this node is primary
and `retire` it before the primary's addresses go. Its own thread keeps PowerDNS running
and the zone rows of PowerDNS's database (`pvc.db.powerdns`) in step, so a database that
is slow to answer (a Patroni leader change) never holds up DHCP or the gateways.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import TYPE_CHECKING

from pvc.common import procs
from pvc.common.config import Config
from pvc.common.errors import PVCError
from pvc.db.spec import dns_spec
from pvc.drivers.network.powerdns import PdnsConfig, PowerDns, forget

if TYPE_CHECKING:  # SQLAlchemy is loaded only on the primary, when zones are first kept
    from pvc.db.engine import Database

log = logging.getLogger("pvcnoded")

RESYNC = 5.0
PORT = 53
MOST_RESTART_WAIT = 30.0  # a PowerDNS that keeps exiting (its database is not up yet)


class DnsAggregator:
    def __init__(self, config: Config) -> None:
        spec = dns_spec(config)
        if spec is None:
            raise ValueError("DNS aggregation is off in pvc.conf")
        self.spec = spec
        addresses = [config.networks[n].floating_address for n in ("cluster", "upstream")
                     if n in config.networks]
        self.cfg = PdnsConfig(
            addresses=tuple(ipaddress.ip_address(a) for a in addresses if a),
            port=PORT, db_hosts=tuple(spec.hosts), db_port=spec.port, db_name=spec.database,
            db_user=spec.username, db_password=spec.password,
            workdir=config.dynamic_directory / "pdns",
            log_file=config.system_log_directory / "pdns.log")
        self.server: PowerDns | None = None
        self.restarts = procs.Restarts(first=RESYNC, most=MOST_RESTART_WAIT)
        self._db: Database | None = None
        self._wanted: dict[str, str] | None = None  # None: not primary
        self._synced: dict[str, str] | None = None
        self._lock = threading.Lock()  # the server and the wanted zones
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dns-aggregator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        self.retire()
        if self._db is not None:
            self._db.close()

    def want(self, zones: dict[str, str]) -> None:
        """This node is primary and these zones (name -> dnsmasq's address) exist."""
        with self._lock:
            changed = zones != self._wanted
            self._wanted = dict(zones)
        if changed or (self.server is not None and not self.server.alive()):
            self._wake.set()

    def retire(self) -> None:
        """Not primary (or about to stop being it): PowerDNS stops at once."""
        with self._lock:
            self._wanted = None
            self._synced = None  # another primary may change the zones meanwhile
            server, self.server = self.server, None
            self.restarts.reset()
        if server is not None:
            server.stop()
            log.info("Stopped the DNS aggregator")

    # -- its thread -------------------------------------------------------------------
    def _run(self) -> None:
        for _ in procs.wakes(self._stop, self._wake, RESYNC):
            try:
                self._pass()
            except PVCError as exc:
                log.warning("Could not bring the DNS aggregator up to date: %s", exc)
            except Exception as exc:  # e.g. PowerDNS's tables missing: said, then again
                log.error("Could not keep the DNS aggregator's zones: %s", exc)

    def _pass(self) -> None:
        with self._lock:
            wanted = None if self._wanted is None else dict(self._wanted)
            if wanted is not None and self.server is not None and not self.server.alive():
                wait = self.restarts.exited()
                log.warning("PowerDNS exited (code %s): starting it again%s",
                            self.server.exit_code(), f" in {wait:.0f} s" if wait else "")
                self.server = None
            if wanted is not None and self.server is None and self.restarts.may_start():
                self.server = PowerDns(self.cfg)
                self.restarts.started()
                self.server.start()
                log.info("Started the DNS aggregator on %s",
                         ", ".join(str(a) for a in self.cfg.addresses))
        if wanted is None or wanted == self._synced:
            return
        from pvc.db import powerdns

        changes = self._database().run(lambda session: powerdns.sync_zones(session, wanted))
        self._synced = wanted
        if changes:
            log.info("DNS aggregator zones: added %s, changed %s, removed %s",
                     changes.added or "none", changes.changed or "none",
                     changes.removed or "none")
        gone, server = changes.removed + changes.changed, self.server
        if gone and server is not None and server.alive():
            try:  # names of a removed zone are not answered from caches for 40 s more
                forget(self.cfg, gone)
            except PVCError as exc:
                log.warning("%s (its caches expire within 40 s)", exc)
        for name in changes.foreign:
            log.error("DNS zone %s exists in PowerDNS's database and is not ours: its "
                      "network's names are not aggregated", name)

    def _database(self) -> Database:
        if self._db is None:
            from pvc.db.engine import Database

            self._db = Database(self.spec, retry_for=10.0)
        return self._db
