"""Who holds an RBD lock, and what a start does about it (the decision; the real locks are
exercised on Ceph in the integration and system tests)."""

from __future__ import annotations

from typing import Any

import yaml

from pvc.common import config as configmod
from pvc.node.storage import rbd_locks


def _config() -> configmod.Config:
    return configmod.parse(yaml.safe_load(configmod.SAMPLE_FILE.read_text()))


class Locks:
    def __init__(self, locks: dict[str, list[dict[str, Any]]]) -> None:
        self.locks = locks
        self.broken: list[tuple[str, str, str, str]] = []

    def lock_list(self, pool: str, volume: str) -> list[dict[str, Any]]:
        return list(self.locks.get(f"{pool}/{volume}", []))

    def lock_break(self, pool: str, volume: str, locker: str, cookie: str) -> None:
        self.broken.append((pool, volume, locker, cookie))
        self.locks[f"{pool}/{volume}"] = [
            lk for lk in self.locks[f"{pool}/{volume}"] if lk["locker"] != locker]


def test_address_ip_forms() -> None:
    assert rbd_locks.address_ip("10.0.2.3:0/123456") == "10.0.2.3"
    assert rbd_locks.address_ip("v1:10.0.2.3:6801/99") == "10.0.2.3"
    assert rbd_locks.address_ip("[::1]:0/5") == "::1"


def test_own_stale_lock_is_broken_then_start_allowed() -> None:
    store = Locks({"vms/a": [{"locker": "client.41", "cookie": "auto 1",
                              "address": "10.0.2.2:0/77"}]})
    assert rbd_locks.clear_for_start(store, _config(), "hv2", ["vms/a"]) is None  # type: ignore[arg-type]
    assert store.broken == [("vms", "a", "client.41", "auto 1")]


def test_lock_of_another_node_refuses_and_breaks_nothing() -> None:
    store = Locks({"vms/a": [{"locker": "client.9", "cookie": "auto 2",
                              "address": "10.0.2.3:0/1"}]})
    why = rbd_locks.clear_for_start(store, _config(), "hv2", ["vms/a"])  # type: ignore[arg-type]
    assert why is not None and "node hv3" in why and "vms/a" in why
    assert store.broken == []


def test_unknown_client_refuses() -> None:
    store = Locks({"vms/a": [{"locker": "client.5", "cookie": "c", "address": "192.0.2.9:0/1"}]})
    why = rbd_locks.clear_for_start(store, _config(), "hv1", ["vms/a"])  # type: ignore[arg-type]
    assert why is not None and "192.0.2.9" in why
