"""PowerDNS as the DNS aggregator of the managed networks, on the primary.

It answers on the floating addresses from its PostgreSQL backend (the `pvcdns` database
under Patroni). Each managed network's zone is a secondary zone there whose primary is the
network's dnsmasq (`pvc.node.network.dns` keeps the zone rows); PowerDNS pulls it by AXFR
and again whenever dnsmasq's serial moves (each lease change moves it). Transfers out are
open, so upstream resolvers can resolve and take copies of the guests' names.

The config file is written from checked values only (addresses are `ipaddress` objects,
the database words were checked when pvc.conf was read); the process runs in the
foreground as a child of the node daemon and dies with it.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pvc.common import procs
from pvc.common.errors import BackendError

PDNS_SERVER = "/usr/sbin/pdns_server"
PDNS_CONTROL = "/usr/bin/pdns_control"
# how often PowerDNS looks for secondary zones due a check (each zone is checked once its
# SOA refresh, set by dnsmasq, has passed)
XFR_CYCLE = 2
# PowerDNS exits when it cannot reach its database as it starts: a just-booted or loaded
# coordinator's PostgreSQL can take seconds to accept a connection
DB_CONNECT_TIMEOUT = 10
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class PdnsConfig:
    addresses: tuple[Address, ...]  # where it answers
    port: int
    db_hosts: tuple[str, ...]  # PostgreSQL: every member (the writable one is used)
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    workdir: Path  # pdns.conf and the control socket
    log_file: Path


def _listen(addr: Address, port: int) -> str:
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


def pdns_conf(cfg: PdnsConfig) -> str:
    settings = {
        "launch": "gpgsql",
        "gpgsql-host": ",".join(cfg.db_hosts),
        "gpgsql-port": ",".join([str(cfg.db_port)] * len(cfg.db_hosts)),
        "gpgsql-dbname": cfg.db_name,
        "gpgsql-user": cfg.db_user,
        "gpgsql-password": cfg.db_password,
        # the writable member is the Patroni leader, wherever it is
        "gpgsql-extra-connection-parameters": (
            f"target_session_attrs=read-write connect_timeout={DB_CONNECT_TIMEOUT}"),
        "local-address": ", ".join(_listen(a, cfg.port) for a in cfg.addresses),
        "daemon": "no",
        "guardian": "no",  # the node daemon starts it again if it exits
        "write-pid": "no",
        "socket-dir": str(cfg.workdir),
        "secondary": "yes",
        "xfr-cycle-interval": str(XFR_CYCLE),
        # zones added while it runs are served at once
        "zone-cache-refresh-interval": "0",
        "disable-axfr": "no",
        "allow-axfr-ips": "0.0.0.0/0, ::/0",
        "loglevel": "4",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def command(cfg: PdnsConfig) -> list[str]:
    return [PDNS_SERVER, f"--config-dir={cfg.workdir}"]


def purge_command(cfg: PdnsConfig, zone: str) -> list[str]:
    """Drop every cached answer at or under `zone` (names are checked domain names)."""
    return [PDNS_CONTROL, f"--config-dir={cfg.workdir}", "purge", f"{zone}$"]


def forget(cfg: PdnsConfig, zones: Iterable[str]) -> None:
    """A running PowerDNS stops answering from its caches for these zones (removed, or
    their primary moved). Without this, a removed zone's names are still answered for up
    to twice the cache lifetime (20 s packet cache on top of the 20 s query cache)."""
    for zone in zones:
        try:
            res = subprocess.run(purge_command(cfg, zone), capture_output=True, text=True,
                                 timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"Cannot purge PowerDNS's cache of {zone}: {exc}") from exc
        if res.returncode != 0:
            raise BackendError(f"Cannot purge PowerDNS's cache of {zone}: "
                               f"{(res.stderr or res.stdout).strip()}")


class PowerDns(procs.Child):
    """The aggregator's pdns_server process."""

    def __init__(self, cfg: PdnsConfig) -> None:
        self.cfg = cfg

    def start(self) -> None:
        self.cfg.workdir.mkdir(parents=True, exist_ok=True)
        self.cfg.workdir.chmod(0o700)  # the config holds the database password
        conf = self.cfg.workdir / "pdns.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(pdns_conf(self.cfg))
        self.spawn(command(self.cfg), self.cfg.log_file, "PowerDNS")
