"""The API's mirrored store against a real ZooKeeper: reads served from memory, a
client's own writes visible at once, other clients' changes arriving by watch, and
ZooKeeper answering while the mirror has not loaded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import Callback

from pvc.state import mirror, tree
from pvc.state.mirror import MirroredStore
from pvc.state.store import Store


@pytest.fixture
def mirrored(zk: KazooClient, store: Store) -> Iterator[MirroredStore]:
    tree.initialize(store)
    m = MirroredStore(zk, roots=("/nodes", "/domains"))
    m.start()
    assert m.wait_ready(10)
    try:
        yield m
    finally:
        m.close()


def test_reads_come_from_memory_once_loaded(mirrored: MirroredStore, zk: KazooClient) -> None:
    zk.create("/nodes/hv1", b"coordinator")
    deadline = time.monotonic() + 5
    # the mirror learns of the child first and fetches its data after (with the same
    # client, whose reads are counted below): wait for both
    while (mirrored.children("root.nodes") != ["hv1"]
           or mirrored.fetch_many(["/nodes/hv1"])[0] is None) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert mirrored.children("root.nodes") == ["hv1"]
    calls = []
    real_get_async = zk.get_async
    zk.get_async = lambda *a, **k: calls.append(a) or real_get_async(*a, **k)  # type: ignore[method-assign]
    try:
        assert mirrored.read("node", node="hv1") == "coordinator"
        assert mirrored.read("config.maintenance") is False  # outside the mirror: ZooKeeper
    finally:
        zk.get_async = real_get_async  # type: ignore[method-assign]
    assert [c[0] for c in calls] == ["/config/maintenance"]


def test_own_writes_are_read_back_at_once(mirrored: MirroredStore) -> None:
    for i in range(20):
        txn = mirrored.txn().create_path(f"/domains/d{i}", b"x")
        txn.create_path(f"/domains/d{i}/status", f'{{"n": {i}}}'.encode())
        txn.commit()
        assert mirrored.read_paths([f"/domains/d{i}/status"]) == [f'{{"n": {i}}}'.encode()]
        mirrored.txn().set_path(f"/domains/d{i}/status", b"{}").commit()
        assert mirrored.read_paths([f"/domains/d{i}/status"]) == [b"{}"]
    mirrored.txn().delete_path("/domains/d0/status").delete_path("/domains/d0").commit()
    assert mirrored.children_of("/domains") is not None
    assert "d0" not in (mirrored.children_of("/domains") or [])


def test_other_clients_changes_arrive(mirrored: MirroredStore, zk_hosts: str) -> None:
    other = KazooClient(hosts=zk_hosts)
    other.start(timeout=10)
    try:
        other.create("/domains/elsewhere", b"v1")
        other.set("/domains/elsewhere", b"v2")
        deadline = time.monotonic() + 5
        while mirrored.read_paths(["/domains/elsewhere"]) != [b"v2"]:
            assert time.monotonic() < deadline, "the change never reached the mirror"
            time.sleep(0.01)
        # compare-and-set on the mirror's version works against ZooKeeper
        version = mirrored.fetch_many(["/domains/elsewhere"])[0][1].version  # type: ignore[index]
        mirrored.txn().set_path("/domains/elsewhere", b"v3", version).commit()
        assert other.get("/domains/elsewhere")[0] == b"v3"
    finally:
        other.stop()
        other.close()


def test_a_write_answered_at_once_by_another_client_does_not_wait(
    mirrored: MirroredStore, zk_hosts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node daemon turns `flush` into `flushed` within milliseconds: the mirror may never
    show `flush`. The writer's commit must still return at once, not after the whole
    catch-up timeout (which kept a request busy past pvcapid's shutdown grace). Holding
    the mirror's event thread while the other client answers makes that certain."""
    monkeypatch.setattr(mirror, "CATCH_UP_TIMEOUT", 30.0)
    path = "/nodes/hv1/domainstate"
    other = KazooClient(hosts=zk_hosts)
    other.start(timeout=10)
    release = threading.Event()
    try:
        other.create(path, b"ready", makepath=True)
        deadline = time.monotonic() + 5
        while mirrored.read_paths([path]) != [b"ready"]:
            assert time.monotonic() < deadline, "the node never reached the mirror"
            time.sleep(0.01)
        # the mirror's watch events wait behind this until released
        mirrored.zk.handler.dispatch_callback(Callback("watch", release.wait, (10,)))
        took: list[float] = []

        def write() -> None:
            began = time.monotonic()
            mirrored.txn().set_path(path, b"flush").commit()
            took.append(time.monotonic() - began)

        writer = threading.Thread(target=write)
        writer.start()
        while other.get(path)[0] != b"flush":
            assert time.monotonic() < deadline, "the write never landed"
            time.sleep(0.005)
        other.set(path, b"flushed")  # the daemon's answer, before the mirror saw `flush`
        release.set()
        writer.join(40)
        assert took and took[0] < 5.0, took
        assert mirrored.read_paths([path]) == [b"flushed"]
    finally:
        release.set()
        other.stop()
        other.close()


def test_before_loading_zookeeper_answers(zk: KazooClient, store: Store) -> None:
    tree.initialize(store)
    zk.create("/domains/early", b"data")
    m = MirroredStore(zk, roots=("/domains",))  # not started: never loaded
    assert m.read_paths(["/domains/early"]) == [b"data"]
    assert m.children_of("/domains") == ["early"]
    m.txn().set_path("/domains/early", b"new").commit()  # nothing to wait for
    assert m.read_paths(["/domains/early"]) == [b"new"]
