"""PowerDNS's config for the DNS aggregator: every member of the database, the floating
addresses, secondary zones served as soon as they are added, transfers out open."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pvc.common.errors import BackendError
from pvc.drivers.network.powerdns import PdnsConfig, command, forget, pdns_conf, purge_command


def conf(tmp_path: Path) -> dict[str, str]:
    cfg = PdnsConfig(
        addresses=(ipaddress.ip_address("10.0.0.250"), ipaddress.ip_address("fd00::250")),
        port=53, db_hosts=("10.0.1.1", "10.0.1.2", "10.0.1.3"), db_port=5432,
        db_name="pvcdns", db_user="pvcdns", db_password="s3cr=t", workdir=tmp_path,
        log_file=tmp_path / "log")
    assert command(cfg) == ["/usr/sbin/pdns_server", f"--config-dir={tmp_path}"]
    lines = pdns_conf(cfg).splitlines()
    pairs = [line.split("=", 1) for line in lines]
    assert len({k for k, _ in pairs}) == len(lines)  # each setting once
    return dict((k, v) for k, v in pairs)


def test_config(tmp_path: Path) -> None:
    got = conf(tmp_path)
    assert got["launch"] == "gpgsql"
    assert got["gpgsql-host"] == "10.0.1.1,10.0.1.2,10.0.1.3"
    assert got["gpgsql-port"] == "5432,5432,5432"
    assert (got["gpgsql-dbname"], got["gpgsql-user"], got["gpgsql-password"]) == (
        "pvcdns", "pvcdns", "s3cr=t")
    assert got["gpgsql-extra-connection-parameters"].split() == [
        "target_session_attrs=read-write", "connect_timeout=10"]
    assert got["local-address"] == "10.0.0.250:53, [fd00::250]:53"
    assert (got["daemon"], got["secondary"], got["zone-cache-refresh-interval"]) == (
        "no", "yes", "0")
    assert (got["disable-axfr"], got["allow-axfr-ips"]) == ("no", "0.0.0.0/0, ::/0")
    assert got["socket-dir"] == str(tmp_path)


def test_purging_a_zone_drops_every_name_under_it(tmp_path: Path) -> None:
    cfg = PdnsConfig(addresses=(), port=53, db_hosts=(), db_port=5432, db_name="d",
                     db_user="u", db_password="p", workdir=tmp_path, log_file=tmp_path / "l")
    assert purge_command(cfg, "net1.example") == [
        "/usr/bin/pdns_control", f"--config-dir={tmp_path}", "purge", "net1.example$"]
    # no PowerDNS runs with this config: said, naming the zone
    with pytest.raises(BackendError, match=r"cache of net1\.example"):
        forget(cfg, ["net1.example"])
