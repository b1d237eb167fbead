"""pvc.conf parsing: the shipped sample parses, derived values are right, bad files fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pvc.common import config
from pvc.common.errors import InvalidArgument

SAMPLE = config.SAMPLE_FILE


def sample() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(SAMPLE.read_text())


def test_sample_parses_with_documented_defaults() -> None:
    cfg = config.load(SAMPLE)
    assert cfg.keepalive_interval == 1
    assert cfg.fence_intervals == 4
    assert cfg.zookeeper_session_timeout == 3
    assert cfg.takeover_timeout == 15
    assert cfg.coordinator_nodes == ("hv1", "hv2", "hv3")
    assert cfg.successful_fence == "migrate" and cfg.failed_fence == "none"
    assert cfg.api_port == 7370 and cfg.api_tokens[0].token == "change-this-token"


def test_node_addresses_by_id_and_hosts() -> None:
    cfg = config.load(SAMPLE)
    assert str(cfg.networks["cluster"].node_address("hv3")) == "10.0.1.3/24"
    assert str(cfg.networks["upstream"].floating_interface()) == "10.0.0.250/24"
    assert cfg.zookeeper_hosts(prefer="hv2") == "10.0.1.2:2181,10.0.1.1:2181,10.0.1.3:2181"
    assert cfg.ipmi_host_for("hv2") == "hv2-lom.example.net"


def test_missing_defaults_apply() -> None:
    raw = sample()
    del raw["timer"], raw["fencing"]
    cfg = config.parse(raw)
    assert cfg.keepalive_interval == 1 and cfg.fence_intervals == 4
    assert cfg.takeover_timeout == 15


@pytest.mark.parametrize("mutate", [
    lambda r: r["cluster"].update(coordinator_nodes=[]),
    lambda r: r["cluster"].update(coordinator_nodes=["hv9"]),
    lambda r: r["cluster"].update(all_nodes=["HV1"]),
    lambda r: r["cluster"]["networks"]["upstream"]["ipv4"].update(floating_address="10.9.9.9"),
    lambda r: r["cluster"]["networks"]["cluster"].update(device="bad dev;rm"),
    lambda r: r["cluster"]["networks"].pop("storage"),
    lambda r: r["database"]["postgres"]["credentials"]["dns"].update(password="two words"),
    lambda r: r["database"]["postgres"]["credentials"]["dns"].update(password="a\nlaunch=x"),
    lambda r: r["database"]["postgres"]["credentials"]["dns"].update(database="x#y"),
    lambda r: r["timer"].update(takeover_timeout=0),
    lambda r: r["timer"].update(takeover_timeout="soon"),
])
def test_bad_config_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    raw = sample()
    mutate(raw)
    with pytest.raises(InvalidArgument):
        config.parse(raw)


def test_dns_aggregation_needs_its_database_password_and_client_networks() -> None:
    raw = sample()
    assert not config.parse(raw).dns_aggregation
    raw["database"]["postgres"]["credentials"]["dns"]["password"] = "s3cr=t!"
    cfg = config.parse(raw)
    assert cfg.dns_aggregation and cfg.postgres_dns_password == "s3cr=t!"
    assert (cfg.postgres_dns_database, cfg.postgres_dns_username) == ("pvcdns", "pvcdns")
    raw["subsystem"]["enable_networking"] = False
    assert not config.parse(raw).dns_aggregation


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="Cannot read"):
        config.load(tmp_path / "missing.conf")
    bad = tmp_path / "bad.conf"
    bad.write_text("a: [unclosed")
    with pytest.raises(InvalidArgument, match="not valid YAML"):
        config.load(bad)
