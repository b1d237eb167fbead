"""PostgreSQL under Patroni on the development coordinators, as the Ansible role sets it
up on real servers: one member per coordinator on its cluster address, ZooKeeper as
Patroni's store (namespace /patroni), synchronous replication (a committed transaction
is on a replica too, so a leader lost with its node loses nothing committed), and at
bootstrap the provisioner's database `pvcapi` with its owner.

Members run as the `postgres` user with everything in the node's directory (data, unix
sockets, the pgpass file), so several clusters on one host never share a file.
"""

from __future__ import annotations

import hashlib
import os
import pwd
from pathlib import Path
from typing import Any

import yaml

from pvc.devcluster.layout import ClusterSpec

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PATRONI = Path("/usr/bin/patroni")
SETPRIV = "/usr/bin/setpriv"
USER = "postgres"
PG_PORT = 5432
REST_PORT = 8008
SCOPE = "pvc"
NAMESPACE = "/patroni/"
API_DATABASE = "pvcapi"
API_USER = "pvcapi"
DNS_DATABASE = "pvcdns"
DNS_USER = "pvcdns"
# PowerDNS's own schema, shipped with its PostgreSQL backend
PDNS_SCHEMA = Path("/usr/share/doc/pdns-backend-pgsql/schema.pgsql.sql")


def available() -> bool:
    return PATRONI.exists() and (PG_BIN / "postgres").exists()


def powerdns_available() -> bool:
    return PDNS_SCHEMA.exists() and Path("/usr/sbin/pdns_server").exists()


def password(spec: ClusterSpec, role: str) -> str:
    """A role's password, derived from the cluster's secret (hex: safe in any file)."""
    return hashlib.sha256(f"{spec.api_key}:{role}".encode()).hexdigest()[:32]


def base_dir(spec: ClusterSpec, node: str) -> Path:
    return spec.node_dir(node) / "postgresql"


def socket_dir(spec: ClusterSpec, node: str) -> Path:
    return base_dir(spec, node) / "run"


def hosts(spec: ClusterSpec) -> list[str]:
    return [str(spec.node_address(c, "cluster").ip) for c in spec.coordinator_names]


def bootstrap_script(spec: ClusterSpec) -> str:
    """Run by Patroni once, on the member that initializes the cluster (its argument: a
    superuser connection string)."""
    psql = "/usr/bin/psql \"$1\" -q -v ON_ERROR_STOP=1"
    lines = [
        "#!/bin/sh",
        "# written by pvc-dev: the provisioner's database and PowerDNS's, with their owners",
        "set -e",
    ]
    for user, database in ((API_USER, API_DATABASE), (DNS_USER, DNS_DATABASE)):
        lines.append(f"{psql} -c \"CREATE ROLE {user} LOGIN PASSWORD '{password(spec, user)}'\""
                     f" -c \"CREATE DATABASE {database} OWNER {user}\"")
    if powerdns_available():  # PowerDNS's tables, made by (so owned by) its user
        lines.append(f"{psql} -c '\\connect {DNS_DATABASE}' -c 'SET ROLE {DNS_USER}' "
                     f"-f {PDNS_SCHEMA}")
    return "\n".join(lines) + "\n"


def patroni_conf(spec: ClusterSpec, node: str) -> dict[str, Any]:
    me = str(spec.node_address(node, "cluster").ip)
    cluster_net = str(spec.network("cluster"))
    base = base_dir(spec, node)
    return {
        "scope": SCOPE,
        "namespace": NAMESPACE,
        "name": node,
        "log": {"level": "INFO"},
        "restapi": {"listen": f"{me}:{REST_PORT}", "connect_address": f"{me}:{REST_PORT}"},
        "zookeeper": {"hosts": [f"{h}:2181" for h in hosts(spec)]},
        "bootstrap": {
            "dcs": {
                # a leader silent for 10 s is replaced (ZooKeeper allows sessions of up
                # to 20 ticks); Patroni's loop runs every 2 s
                "ttl": 10, "loop_wait": 2, "retry_timeout": 3,
                "maximum_lag_on_failover": 1048576,
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "parameters": {
                        "max_connections": 60, "shared_buffers": "16MB",
                        "wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                        "max_wal_senders": 6, "max_replication_slots": 6,
                        "wal_keep_size": "64MB",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            "pg_hba": [
                "local all all peer",
                f"host replication replicator {cluster_net} scram-sha-256",
                f"host all all {cluster_net} scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
            ],
            "post_bootstrap": str(base / "bootstrap.sh"),
        },
        "postgresql": {
            "listen": f"{me},127.0.0.1:{PG_PORT}",
            "connect_address": f"{me}:{PG_PORT}",
            "data_dir": str(base / "data"),
            "bin_dir": str(PG_BIN),
            "pgpass": str(base / "pgpass"),
            # a new replica copies the leader at once (not after a spread checkpoint)
            "basebackup": [{"checkpoint": "fast"}],
            "authentication": {
                "superuser": {"username": "postgres", "password": password(spec, "postgres")},
                "replication": {"username": "replicator",
                                "password": password(spec, "replicator")},
                "rewind": {"username": "postgres", "password": password(spec, "postgres")},
            },
            "parameters": {"unix_socket_directories": str(socket_dir(spec, node))},
        },
        "watchdog": {"mode": "off"},  # there is no /dev/watchdog in a dev node
    }


def write(spec: ClusterSpec, node: str) -> None:
    """A coordinator's Patroni files, owned by postgres and readable by it alone."""
    base = base_dir(spec, node)
    user = pwd.getpwnam(USER)
    for d in (base, socket_dir(spec, node)):
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, user.pw_uid, user.pw_gid)
        d.chmod(0o700)
    files = {"patroni.yml": yaml.safe_dump(patroni_conf(spec, node), sort_keys=False),
             "bootstrap.sh": bootstrap_script(spec)}
    for name, text in files.items():
        path = base / name
        path.write_text(text)
        os.chown(path, user.pw_uid, user.pw_gid)
        path.chmod(0o700 if name.endswith(".sh") else 0o600)


def command(spec: ClusterSpec, node: str) -> list[str]:
    """Patroni in the foreground, as postgres."""
    return [SETPRIV, f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--",
            str(PATRONI), str(base_dir(spec, node) / "patroni.yml")]


def env(spec: ClusterSpec, node: str) -> dict[str, str]:
    return {"HOME": str(base_dir(spec, node)), "USER": USER, "LOGNAME": USER}



def members(spec: ClusterSpec) -> list[dict[str, Any]]:
    """The members as Patroni's REST API tells them (name, role, state, ...), from the
    first coordinator that answers; [] if none does."""
    import httpx

    for node in spec.coordinator_names:
        ip = spec.node_address(node, "cluster").ip
        try:
            found = httpx.get(f"http://{ip}:{REST_PORT}/cluster", timeout=1).json()["members"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            continue
        return [m for m in found if isinstance(m, dict)]
    return []


def roles(spec: ClusterSpec) -> dict[str, str]:
    """Member -> role (leader, sync_standby, replica) of the members that run."""
    return {str(m.get("name")): str(m.get("role")) for m in members(spec)
            if m.get("state") in ("running", "streaming")}


def status_line(spec: ClusterSpec) -> str | None:
    """The members and their roles (None if no member answers)."""
    found = members(spec)
    return ", ".join(f"{m.get('name')} {m.get('role')} ({m.get('state')})"
                     for m in found) or None
