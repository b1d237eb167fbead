"""Where the relational store is (light: no database library imported here, so a
daemon names its database without paying for SQLAlchemy before it serves)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pvc.common.config import Config


@dataclass(frozen=True)
class DatabaseSpec:
    """Where the database is and who we are in it."""

    hosts: Sequence[str]
    port: int
    database: str
    username: str
    password: str
    connect_timeout: int = 2

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo  # heavy: only where a connection is made

        return make_conninfo(
            host=",".join(self.hosts), port=",".join([str(self.port)] * len(self.hosts)),
            dbname=self.database, user=self.username, password=self.password,
            target_session_attrs="read-write", connect_timeout=str(self.connect_timeout),
            application_name="pvc")

    def describe(self) -> str:
        return f"{self.database} on {','.join(self.hosts)}:{self.port}"


def api_spec(config: Config) -> DatabaseSpec | None:
    """The provisioner's database as pvc.conf names it; None when it has no password
    (the provisioner is off)."""
    if not config.postgres_api_password:
        return None
    return _on_cluster(config, config.postgres_api_database, config.postgres_api_username,
                       config.postgres_api_password)


def dns_spec(config: Config) -> DatabaseSpec | None:
    """PowerDNS's database as pvc.conf names it; None when DNS aggregation is off."""
    if not config.dns_aggregation:
        return None
    return _on_cluster(config, config.postgres_dns_database, config.postgres_dns_username,
                       config.postgres_dns_password)


def _on_cluster(config: Config, database: str, username: str, password: str) -> DatabaseSpec:
    return DatabaseSpec(hosts=config.postgres_hosts(), port=config.postgres_port,
                        database=database, username=username, password=password)
