"""`GET /vm` from pvcapid's mirrored store: each VM is read and rendered again only when
it changed, and every change (by this API or by anyone else) shows in the next listing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kazoo.client import KazooClient

from pvc.ops.vm import records as vm_records
from pvc.state.mirror import MirroredStore
from pvc.state.store import Store
from tests.integration.api.support import client, standard_cluster
from tests.integration.api.vm.support import API, define, set_status, uuid_of


@pytest.fixture
def mirrored(zk: KazooClient, store: Store) -> Iterator[MirroredStore]:
    standard_cluster(store)
    m = MirroredStore(zk)
    m.start()
    assert m.wait_ready(10)
    try:
        yield m
    finally:
        m.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The UUIDs of every VM record read from the store."""
    seen: list[str] = []
    real = vm_records.read_vms

    def counting(store: Store, uuids: list[str], full: bool = False) -> list[Any]:
        seen.extend(uuids)
        return real(store, uuids, full)

    monkeypatch.setattr(vm_records, "read_vms", counting)
    return seen


def listing(c: TestClient) -> dict[str, dict[str, Any]]:
    r = c.get(f"{API}/vm")
    assert r.status_code == 200, r.text
    return {vm["name"]: vm for vm in r.json()}


def eventually(c: TestClient, check: Callable[[dict[str, dict[str, Any]]], bool]) -> None:
    deadline = time.monotonic() + 10
    while not check(listing(c)):
        assert time.monotonic() < deadline, "the change never showed in the listing"
        time.sleep(0.02)


def test_only_changed_vms_are_read_again(mirrored: MirroredStore, store: Store,
                                         reads: list[str]) -> None:
    c = client(mirrored)
    for name in ("a1", "a2", "a3"):
        define(c, name)
    first = listing(c)
    assert sorted(first) == ["a1", "a2", "a3"] and first["a2"]["state"] == "stop"
    reads.clear()
    assert listing(c) == first
    assert reads == []  # nothing changed: nothing read
    # a change by someone else (a node daemon, say), seen through the watches
    set_status(store, uuid_of("a2"), state="start", node="hv2")
    eventually(c, lambda vms: vms["a2"]["state"] == "start")
    assert set(reads) == {uuid_of("a2")}
    assert listing(c)["a1"] == first["a1"]
    # through this API: a tag, a new VM, a removal
    assert c.post(f"{API}/vm/a1/tags", params={"action": "add", "tag": "web"}).status_code == 200
    assert [t["name"] for t in listing(c)["a1"]["tags"]] == ["web"]
    define(c, "a4")
    assert c.delete(f"{API}/vm/a3").status_code == 200
    eventually(c, lambda vms: sorted(vms) == ["a1", "a2", "a4"])


def test_filters_apply_to_kept_answers(mirrored: MirroredStore, store: Store) -> None:
    c = client(mirrored)
    for name in ("b1", "b2"):
        define(c, name)
    listing(c)
    set_status(store, uuid_of("b1"), state="start", node="hv1")
    eventually(c, lambda vms: vms["b1"]["state"] == "start")
    r = c.get(f"{API}/vm", params={"state": "start"})
    assert [vm["name"] for vm in r.json()] == ["b1"]
    r = c.get(f"{API}/vm", params={"state": "start", "negate": "true"})
    assert [vm["name"] for vm in r.json()] == ["b2"]
    assert c.get(f"{API}/vm", params={"limit": "nothing-like-it"}).status_code == 404


def test_without_a_mirror_every_listing_reads_afresh(store: Store, reads: list[str]) -> None:
    standard_cluster(store)
    c = client(store)
    define(c, "c1")
    listing(c)
    reads.clear()
    listing(c)
    assert reads == [uuid_of("c1")]
