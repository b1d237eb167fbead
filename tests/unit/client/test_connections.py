"""The client connection store (pvc.json) and the `local` connection from pvc.conf."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from pvc.client import connections
from pvc.client.connections import (
    Connection,
    add_connection,
    from_config_file,
    load_store,
    remove_connection,
    resolve,
    save_store,
    store_path,
)
from pvc.common.errors import InvalidArgument, NotFound


def write_pvc_conf(
    path: Path,
    *,
    address: str = "0.0.0.0",
    port: int = 7370,
    ssl: bool = False,
    auth: bool = True,
    tokens: tuple[str, ...] = ("tok-1", "tok-2"),
) -> Path:
    nets = {
        name: {
            "device": f"eth{i}",
            "mtu": 1500,
            "domain": f"{name}.local",
            "ipv4": {"network_address": f"10.{i}.0.0", "netmask": 24},
        }
        for i, name in enumerate(("upstream", "cluster", "storage"))
    }
    raw: dict[str, Any] = {
        "cluster": {
            "name": "testcluster",
            "all_nodes": ["hv1", "hv2", "hv3"],
            "coordinator_nodes": ["hv1", "hv2", "hv3"],
            "networks": nets,
        },
        "api": {
            "listen": {"address": address, "port": port},
            "authentication": {"enabled": auth, "source": "token"},
            "token": [{"description": f"t{i}", "token": t} for i, t in enumerate(tokens)],
            "ssl": {"enabled": ssl},
        },
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def test_store_path_follows_pvc_client_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PVC_CLIENT_DIR", str(tmp_path / "client"))
    assert store_path() == tmp_path / "client" / "pvc.json"
    monkeypatch.delenv("PVC_CLIENT_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store_path() == tmp_path / "home" / ".config" / "pvc" / "pvc.json"


def test_missing_store_holds_only_local(tmp_path: Path) -> None:
    assert load_store(tmp_path / "nope.json") == {"local": {"cfgfile": "/etc/pvc/pvc.conf"}}


def test_add_creates_dirs_and_writes_mode_600(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "pvc.json"
    add_connection(
        "prod", "10.0.0.250", port=7371, scheme="https", api_key="KEY", description="d", path=path
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["prod"] == {
        "description": "d",
        "host": "10.0.0.250",
        "port": 7371,
        "scheme": "https",
        "api_key": "KEY",
    }
    assert data["local"] == {"cfgfile": "/etc/pvc/pvc.conf"}


def test_save_tightens_an_existing_loose_file(tmp_path: Path) -> None:
    path = tmp_path / "pvc.json"
    path.write_text("{}")
    path.chmod(0o644)
    save_store({"x": {"host": "h"}}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_resolve_static_entry_and_base_url(tmp_path: Path) -> None:
    path = tmp_path / "pvc.json"
    add_connection("c1", "pvc.example.com", port=7000, api_key="abc", path=path)
    conn = resolve("c1", path)
    assert conn == Connection("c1", "pvc.example.com", 7000, "http", "abc", "N/A", verify_ssl=True)
    assert conn.base_url == "http://pvc.example.com:7000/api/v1"
    assert Connection("v6", "fd00::1").base_url == "http://[fd00::1]:7370/api/v1"


def test_remove(tmp_path: Path) -> None:
    path = tmp_path / "pvc.json"
    add_connection("c1", "h1", path=path)
    remove_connection("c1", path)
    assert "c1" not in load_store(path)
    with pytest.raises(NotFound):
        remove_connection("c1", path)


def test_unknown_connection_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match='No connection "other"'):
        resolve("other", tmp_path / "pvc.json")


@pytest.mark.parametrize("bad", ["", "has space", "a/b"])
def test_bad_connection_names_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        add_connection(bad, "h", path=tmp_path / "pvc.json")


def test_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "pvc.json"
    path.write_text("{not json")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        load_store(path)


def test_local_from_pvc_conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = write_pvc_conf(tmp_path / "pvc.conf", port=7399)
    monkeypatch.setenv("PVC_CONFIG_FILE", str(conf))
    conn = resolve("local", tmp_path / "no-store.json")
    assert (conn.host, conn.port, conn.scheme, conn.api_key) == ("127.0.0.1", 7399, "http", "tok-1")
    assert conn.verify_ssl is False


def test_local_with_ssl_specific_address_and_no_auth(tmp_path: Path) -> None:
    conf = write_pvc_conf(tmp_path / "pvc.conf", address="10.0.0.5", ssl=True, auth=False)
    conn = from_config_file("local", conf)
    assert (conn.host, conn.scheme, conn.api_key) == ("10.0.0.5", "https", None)


def test_cfgfile_entry_in_store(tmp_path: Path) -> None:
    conf = write_pvc_conf(tmp_path / "other.conf", address="192.0.2.7", port=8000)
    store = tmp_path / "pvc.json"
    save_store({"lab": {"cfgfile": str(conf)}}, store)
    conn = resolve("lab", store)
    assert (conn.name, conn.host, conn.port, conn.api_key) == ("lab", "192.0.2.7", 8000, "tok-1")


def test_missing_local_config_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PVC_CONFIG_FILE", str(tmp_path / "missing.conf"))
    with pytest.raises(NotFound, match=r"no PVC configuration at .*missing\.conf"):
        resolve("local", tmp_path / "pvc.json")


def test_unreadable_local_config_is_a_clear_error(tmp_path: Path) -> None:
    conf = tmp_path / "pvc.conf"
    conf.write_text("api: [unbalanced\n")
    with pytest.raises(InvalidArgument, match="not valid YAML"):
        from_config_file("local", conf)


def test_default_local_path_is_etc_pvc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PVC_CONFIG_FILE", raising=False)
    assert connections._cfgfile_path("/etc/pvc/pvc.conf") == Path("/etc/pvc/pvc.conf")
