"""CephStorage's volumes, snapshots and locks against a real Ceph cluster.

Contents are checked byte for byte; Ceph's own view comes from a separate librados client
(`raw`), which also plays the other node that holds a lock.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

try:
    import rados
    import rbd
except ImportError:  # Debian's python3-rados/python3-rbd
    pytest.skip("python3-rados and python3-rbd are not installed", allow_module_level=True)

from pvc.common.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from pvc.drivers.storage.ceph import CephStorage
from tests.integration.cephsupport import CephTestCluster

pytestmark = pytest.mark.integration


MiB = 1 << 20


@pytest.fixture(scope="module")
def storage(ceph_cluster: CephTestCluster) -> Iterator[CephStorage]:
    driver = CephStorage(ceph_cluster.conf_path, ceph_cluster.keyring_path, timeout=10)
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def raw(ceph_cluster: CephTestCluster) -> Iterator[rados.Rados]:
    cluster = rados.Rados(conffile=str(ceph_cluster.conf_path),
                          conf={"keyring": str(ceph_cluster.keyring_path)})
    cluster.connect(timeout=10)
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def pool(ceph_cluster: CephTestCluster, storage: CephStorage) -> Iterator[str]:
    name = ceph_cluster.new_pool(f"drv-rbd-{uuid.uuid4().hex[:8]}")
    yield name
    storage.pool_remove(name)


@pytest.fixture
def volume(storage: CephStorage, pool: str) -> Iterator[str]:
    """A fresh 8 MiB volume (two 4 MiB objects), removed afterwards if still there."""
    name = f"vol-{uuid.uuid4().hex[:8]}"
    storage.volume_create(pool, name, 8 * MiB)
    yield name
    if name in storage.volume_names(pool):
        storage.volume_remove(pool, name)


def raw_names(raw: rados.Rados, pool: str) -> list[str]:
    with raw.open_ioctx(pool) as ioctx:
        return sorted(rbd.RBD().list(ioctx))


# -- volumes ---------------------------------------------------------------------------
def test_create_and_info(storage: CephStorage, raw: rados.Rados, pool: str,
                         volume: str) -> None:
    assert volume in storage.volume_names(pool)
    assert volume in raw_names(raw, pool)
    info = storage.volume_info(pool, volume)
    assert info["name"] == volume and info["size"] == 8 * MiB
    assert (info["order"], info["object_size"], info["objects"]) == (22, 4 * MiB, 2)
    assert info["format"] == 2
    assert info["features"] == ["layering", "exclusive-lock", "object-map", "fast-diff",
                                "deep-flatten"]
    assert info["flags"] == [] and info["op_features"] == []
    assert info["snapshot_count"] == 0
    with raw.open_ioctx(pool) as ioctx, rbd.Image(ioctx, volume, read_only=True) as image:
        assert info["id"] == image.id()
        assert info["block_name_prefix"] == image.block_name_prefix()
    created = datetime.strptime(info["create_timestamp"], "%a %b %d %H:%M:%S %Y")
    assert abs(created.timestamp() - time.time()) < 120
    assert info["modify_timestamp"] and info["access_timestamp"]


def test_create_refusals(storage: CephStorage, pool: str, volume: str) -> None:
    with pytest.raises(AlreadyExists, match=f"volume {pool}/{volume} already exists"):
        storage.volume_create(pool, volume, MiB)
    assert storage.volume_info(pool, volume)["size"] == 8 * MiB
    with pytest.raises(InvalidArgument):
        storage.volume_create(pool, "empty", 0)
    with pytest.raises(NotFound, match=f"volume {pool}/nope does not exist"):
        storage.volume_info(pool, "nope")


def test_write_and_read_across_objects(storage: CephStorage, pool: str, volume: str) -> None:
    data = os.urandom(3 * MiB)
    start = 4 * MiB - MiB // 2  # spans the boundary of the first two objects
    chunks = [data[i:i + 300_000] for i in range(0, len(data), 300_000)]
    assert storage.volume_write(pool, volume, iter(chunks), offset=start) == len(data)
    assert storage.volume_read(pool, volume, start, len(data)) == data
    assert storage.volume_read(pool, volume, 0, 16) == bytes(16)  # untouched, sparse
    # a read past the end is cut at the end
    assert storage.volume_read(pool, volume, 8 * MiB - 10, 100) == bytes(10)
    assert storage.volume_read(pool, volume, 8 * MiB, 100) == b""


def test_write_past_the_end_is_refused(storage: CephStorage, pool: str, volume: str) -> None:
    with pytest.raises(InvalidArgument, match="past its size"):
        storage.volume_write(pool, volume, iter([b"x" * 20]), offset=8 * MiB - 10)
    assert storage.volume_read(pool, volume, 8 * MiB - 10, 10) == bytes(10)
    with pytest.raises(NotFound, match="nope"):
        storage.volume_write(pool, "nope", iter([b"x"]))


def test_resize_grows_and_refuses_to_shrink(storage: CephStorage, pool: str,
                                            volume: str) -> None:
    storage.volume_write(pool, volume, iter([b"keep me"]), offset=7 * MiB)
    storage.volume_resize(pool, volume, 16 * MiB)
    assert storage.volume_info(pool, volume)["size"] == 16 * MiB
    storage.volume_resize(pool, volume, 16 * MiB)  # same size: nothing to do
    with pytest.raises(InvalidArgument, match=f"from {16 * MiB} to {4 * MiB}"):
        storage.volume_resize(pool, volume, 4 * MiB)
    assert storage.volume_info(pool, volume)["size"] == 16 * MiB
    assert storage.volume_read(pool, volume, 7 * MiB, 7) == b"keep me"
    with pytest.raises(NotFound):
        storage.volume_resize(pool, "nope", 16 * MiB)


def test_rename(storage: CephStorage, raw: rados.Rados, pool: str, volume: str) -> None:
    storage.volume_write(pool, volume, iter([b"renamed"]))
    new = f"{volume}-new"
    storage.volume_rename(pool, volume, new)
    try:
        assert new in raw_names(raw, pool) and volume not in raw_names(raw, pool)
        assert storage.volume_read(pool, new, 0, 7) == b"renamed"
        with pytest.raises(NotFound, match=f"volume {pool}/{volume} does not exist"):
            storage.volume_info(pool, volume)
        with pytest.raises(NotFound, match=f"volume {pool}/{volume}"):
            storage.volume_rename(pool, volume, "other")
        storage.volume_create(pool, volume, MiB)
        with pytest.raises(AlreadyExists, match=f"volume {pool}/{volume} already exists"):
            storage.volume_rename(pool, new, volume)
        assert storage.volume_read(pool, new, 0, 7) == b"renamed"
    finally:
        storage.volume_remove(pool, new)


def test_copy_is_identical_and_independent(storage: CephStorage, pool: str,
                                           volume: str) -> None:
    data = os.urandom(5 * MiB)
    storage.volume_write(pool, volume, iter([data]), offset=MiB)
    copy = f"{volume}-copy"
    storage.volume_copy(pool, volume, copy)
    try:
        assert storage.volume_read(pool, copy, 0, 8 * MiB) == \
            storage.volume_read(pool, volume, 0, 8 * MiB)
        info = storage.volume_info(pool, copy)
        assert info["size"] == 8 * MiB
        assert info["features"] == storage.volume_info(pool, volume)["features"]
        storage.volume_write(pool, copy, iter([b"changed"]), offset=MiB)
        assert storage.volume_read(pool, volume, MiB, 7) == data[:7]
        with pytest.raises(AlreadyExists, match=f"volume {pool}/{copy} already exists"):
            storage.volume_copy(pool, volume, copy)
        with pytest.raises(NotFound, match=f"volume {pool}/nope"):
            storage.volume_copy(pool, "nope", "nope2")
    finally:
        storage.volume_remove(pool, copy)


def test_a_linked_clone_reads_its_source_writes_apart_and_holds_the_source(
        storage: CephStorage, pool: str, volume: str) -> None:
    data = os.urandom(3 * MiB)
    storage.volume_write(pool, volume, iter([data]), offset=MiB)
    clone = f"{volume}-linked"
    storage.volume_clone(pool, volume, clone)
    try:
        assert storage.volume_read(pool, clone, MiB, 3 * MiB) == data
        assert storage.volume_info(pool, clone)["size"] == 8 * MiB
        # the source as it was: later writes to either side stay on that side
        storage.volume_write(pool, volume, iter([b"source-later"]), offset=MiB)
        storage.volume_write(pool, clone, iter([b"clone-wrote"]), offset=2 * MiB)
        assert storage.volume_read(pool, clone, MiB, 12) == data[:12]
        assert storage.volume_read(pool, volume, 2 * MiB, 11) == data[MiB:MiB + 11]
        # no snapshot of the source is left to see, but it cannot go while the clone is
        assert storage.snapshot_list(pool, volume) == []
        with pytest.raises(InvalidState, match="linked clones"):
            storage.volume_remove(pool, volume)
        with pytest.raises(AlreadyExists, match=f"volume {pool}/{clone} already exists"):
            storage.volume_clone(pool, volume, clone)
    finally:
        storage.volume_remove(pool, clone)
    storage.volume_remove(pool, volume)  # free again once its clone is gone
    assert volume not in storage.volume_names(pool)


def test_remove_purges_snapshots(storage: CephStorage, raw: rados.Rados, pool: str,
                                 volume: str) -> None:
    storage.snapshot_create(pool, volume, "plain")
    storage.snapshot_create(pool, volume, "protected")
    with raw.open_ioctx(pool) as ioctx, rbd.Image(ioctx, volume) as image:
        image.protect_snap("protected")
    storage.volume_remove(pool, volume)
    assert volume not in raw_names(raw, pool)
    assert volume not in storage.volume_names(pool)
    with pytest.raises(NotFound, match=f"volume {pool}/{volume}"):
        storage.volume_remove(pool, volume)


def test_remove_refuses_a_volume_in_use(storage: CephStorage, raw: rados.Rados, pool: str,
                                        volume: str) -> None:
    storage.snapshot_create(pool, volume, "keep")
    # the image open elsewhere stands for a running VM
    with raw.open_ioctx(pool) as ioctx, rbd.Image(ioctx, volume), \
            pytest.raises(InvalidState, match="in use"):
        storage.volume_remove(pool, volume)
    assert volume in raw_names(raw, pool)
    assert [s["name"] for s in storage.snapshot_list(pool, volume)] == ["keep"]


# -- snapshots -------------------------------------------------------------------------
def test_snapshot_lifecycle(storage: CephStorage, pool: str, volume: str) -> None:
    before = time.time()
    storage.volume_write(pool, volume, iter([b"A" * 4096]))
    storage.snapshot_create(pool, volume, "s1")
    snaps = storage.snapshot_list(pool, volume)
    assert [s["name"] for s in snaps] == ["s1"]
    assert snaps[0]["size"] == 8 * MiB and isinstance(snaps[0]["id"], int)
    assert before - 2 <= snaps[0]["timestamp"] <= time.time() + 2
    assert storage.volume_info(pool, volume)["snapshot_count"] == 1

    storage.volume_write(pool, volume, iter([b"B" * 4096]))
    assert storage.volume_read(pool, volume, 0, 4096) == b"B" * 4096
    storage.snapshot_rollback(pool, volume, "s1")
    assert storage.volume_read(pool, volume, 0, 4096) == b"A" * 4096

    with pytest.raises(AlreadyExists, match=f"snapshot {pool}/{volume}@s1 already exists"):
        storage.snapshot_create(pool, volume, "s1")
    storage.snapshot_rename(pool, volume, "s1", "s2")
    assert [s["name"] for s in storage.snapshot_list(pool, volume)] == ["s2"]
    storage.snapshot_create(pool, volume, "s3")
    with pytest.raises(AlreadyExists, match=f"snapshot {pool}/{volume}@s3"):
        storage.snapshot_rename(pool, volume, "s2", "s3")
    storage.snapshot_remove(pool, volume, "s2")
    storage.snapshot_remove(pool, volume, "s3")
    assert storage.snapshot_list(pool, volume) == []


def test_snapshot_not_found(storage: CephStorage, pool: str, volume: str) -> None:
    missing = f"snapshot {pool}/{volume}@ghost does not exist"
    with pytest.raises(NotFound, match=missing):
        storage.snapshot_rollback(pool, volume, "ghost")
    with pytest.raises(NotFound, match=missing):
        storage.snapshot_rename(pool, volume, "ghost", "other")
    with pytest.raises(NotFound, match=missing):
        storage.snapshot_remove(pool, volume, "ghost")
    with pytest.raises(NotFound, match=f"volume {pool}/nope does not exist"):
        storage.snapshot_create(pool, "nope", "s")
    with pytest.raises(NotFound, match=f"volume {pool}/nope does not exist"):
        storage.snapshot_list(pool, "nope")


# -- locks -----------------------------------------------------------------------------
def blocklisted(raw: rados.Rados) -> set[str]:
    ret, out, outs = raw.mon_command(
        json.dumps({"prefix": "osd blocklist ls", "format": "json"}), b"")
    assert ret == 0, outs
    entries = json.JSONDecoder().raw_decode(out.decode())[0]  # a range list may follow
    return {e["addr"] for e in entries}


@pytest.fixture
def other_node(ceph_cluster: CephTestCluster) -> Iterator[rados.Rados]:
    """A second client, standing for a node that dies while holding a disk."""
    cluster = rados.Rados(conffile=str(ceph_cluster.conf_path),
                          conf={"keyring": str(ceph_cluster.keyring_path),
                                "rados_osd_op_timeout": "5"})
    cluster.connect(timeout=10)
    yield cluster
    cluster.shutdown()


def test_break_an_advisory_lock(storage: CephStorage, raw: rados.Rados,
                                other_node: rados.Rados, pool: str, volume: str) -> None:
    with other_node.open_ioctx(pool) as ioctx, rbd.Image(ioctx, volume) as image:
        image.lock_exclusive("pvc-test")
        locks = storage.lock_list(pool, volume)
        address = other_node.get_addrs()
        assert locks == [{"locker": f"client.{other_node.get_instance_id()}",
                          "cookie": "pvc-test", "address": address, "exclusive": True}]
        with pytest.raises(NotFound, match="lock"):
            storage.lock_break(pool, volume, locks[0]["locker"], "other-cookie")
        assert address not in blocklisted(raw)

        storage.lock_break(pool, volume, locks[0]["locker"], "pvc-test")
        assert storage.lock_list(pool, volume) == []
        assert address in blocklisted(raw)
        with pytest.raises(rbd.ConnectionShutdown):
            image.write(b"too late", 0)


def test_break_the_lock_of_a_dead_writer(storage: CephStorage, raw: rados.Rados,
                                         other_node: rados.Rados, pool: str,
                                         volume: str) -> None:
    """What frees a disk held by a dead node: librbd's own exclusive lock ("auto ...")."""
    with other_node.open_ioctx(pool) as ioctx, rbd.Image(ioctx, volume) as image:
        image.write(b"vm data", 0)  # takes the exclusive-lock feature's lock
        locks = storage.lock_list(pool, volume)
        assert len(locks) == 1 and locks[0]["cookie"].startswith("auto ")
        assert locks[0]["address"] == other_node.get_addrs()

        storage.lock_break(pool, volume, locks[0]["locker"], locks[0]["cookie"])
        assert other_node.get_addrs() in blocklisted(raw)
        with pytest.raises(rbd.ConnectionShutdown):
            image.write(b"zombie", 0)
    # this node can now open the disk and write: the old holder is fenced off
    storage.volume_write(pool, volume, iter([b"new owner"]))
    assert storage.volume_read(pool, volume, 0, 9) == b"new owner"


def test_locks_of_missing_volume(storage: CephStorage, pool: str) -> None:
    with pytest.raises(NotFound, match=f"volume {pool}/nope"):
        storage.lock_list(pool, "nope")
    with pytest.raises(NotFound, match=f"volume {pool}/nope"):
        storage.lock_break(pool, "nope", "client.1", "c")
