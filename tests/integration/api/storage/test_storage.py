"""Storage through the API on real Ceph (the one-OSD test cluster) and real ZooKeeper:
pools, volumes, snapshots, OSD state and flags; every refusal changes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pvc.drivers.storage.ceph import CephStorage
from pvc.node.storage.publisher import INTERNAL_POOLS, StoragePublisher
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import client, standard_cluster

pytestmark = pytest.mark.integration
ONE_COPY = "copies=1,mincopies=1"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def storage(ceph_cluster: Any) -> Iterator[CephStorage]:
    driver = CephStorage(ceph_cluster.conf_path, ceph_cluster.keyring_path, timeout=20)
    yield driver
    driver.close()


@pytest.fixture
def api(store: Store, storage: CephStorage) -> TestClient:
    standard_cluster(store)
    return client(store, storage=storage)


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _ceph_pools(storage: CephStorage) -> set[str]:
    """Ceph's pools, without the ones the manager makes for itself (at any time)."""
    return {p["name"] for p in storage.pool_list()} - set(INTERNAL_POOLS)


@pytest.fixture
def pool(api: TestClient, storage: CephStorage) -> Iterator[str]:
    name = _name("tp")
    r = api.post("/api/v1/storage/ceph/pool", params={"pool": name, "pgs": 8,
                                                      "replcfg": ONE_COPY})
    assert r.status_code == 200, r.text
    yield name
    if name in _ceph_pools(storage):
        storage.pool_remove(name)


def test_pool_lifecycle_and_refusals(api: TestClient, store: Store,
                                     storage: CephStorage) -> None:
    name = _name("lp")
    before = _ceph_pools(storage)
    for params, words in (
        ({"pool": name, "pgs": 12, "replcfg": ONE_COPY}, "power of two"),
        ({"pool": name, "pgs": 8, "replcfg": "copies=2,mincopies=3"}, "mincopies"),
        ({"pool": name, "pgs": 8, "replcfg": "three"}, "copies=N"),
        ({"pool": name, "pgs": 8, "replcfg": ONE_COPY, "tier": "floppy"}, "tier"),
        ({"pool": "bad/name", "pgs": 8, "replcfg": ONE_COPY}, "pool name"),
        ({"pool": name, "pgs": -8, "replcfg": ONE_COPY}, "power of two"),
    ):
        r = api.post("/api/v1/storage/ceph/pool", params=params)
        assert r.status_code == 400, (params, r.text)
        assert words in r.json()["message"]
    assert _ceph_pools(storage) == before
    assert store.children("root.ceph.pools") == []

    r = api.post("/api/v1/storage/ceph/pool", params={"pool": name, "pgs": 8,
                                                      "replcfg": ONE_COPY})
    assert r.status_code == 200, r.text
    assert name in _ceph_pools(storage)
    r = api.post("/api/v1/storage/ceph/pool", params={"pool": name, "pgs": 8,
                                                      "replcfg": ONE_COPY})
    assert r.status_code == 400 and "already exists" in r.json()["message"]

    [info] = api.get(f"/api/v1/storage/ceph/pool/{name}").json()
    assert (info["name"], info["pgs"], info["tier"], info["volume_count"]) == (name, 8,
                                                                              "default", 0)
    r = api.put(f"/api/v1/storage/ceph/pool/{name}", params={"pgs": 6})
    assert r.status_code == 400
    r = api.put(f"/api/v1/storage/ceph/pool/{name}", params={"pgs": 16})
    assert r.status_code == 200, r.text
    assert api.get(f"/api/v1/storage/ceph/pool/{name}").json()[0]["pgs"] == 16
    # the manager moves pg_num to the new target in steps
    deadline = time.monotonic() + 180
    while next(p for p in storage.pool_list() if p["name"] == name)["pg_num"] != 16:
        assert time.monotonic() < deadline, "pg_num never reached 16"
        time.sleep(0.5)

    r = api.delete(f"/api/v1/storage/ceph/pool/{name}")
    assert r.status_code == 400 and "yes-i-really-mean-it" in r.json()["message"]
    assert name in _ceph_pools(storage)
    r = api.delete(f"/api/v1/storage/ceph/pool/{name}", params={"yes-i-really-mean-it": "yes"})
    assert r.status_code == 200, r.text
    assert name not in _ceph_pools(storage)
    assert api.get(f"/api/v1/storage/ceph/pool/{name}").status_code == 404
    assert api.get("/api/v1/storage/ceph/pool").status_code == 404  # none left, as PVC


def test_volume_lifecycle(api: TestClient, store: Store, storage: CephStorage,
                          pool: str) -> None:
    base = f"/api/v1/storage/ceph/volume/{pool}"
    r = api.post("/api/v1/storage/ceph/volume", params={"pool": pool, "volume": "disk0",
                                                        "size": "64M"})
    assert r.status_code == 200, r.text
    [vol] = api.get(f"{base}/disk0").json()
    assert (vol["name"], vol["pool"], vol["stats"]["size"]) == ("disk0", pool, "64M")
    assert vol["stats"]["size_bytes"] == 64 * MiB
    assert isinstance(vol["stats"]["features"], list)

    storage.volume_write(pool, "disk0", iter([b"pvc-marker" * 100]))
    r = api.post(f"{base}/disk0/clone", params={"new_volume": "disk1"})
    assert r.status_code == 200, r.text
    assert storage.volume_read(pool, "disk1", 0, 1000) == b"pvc-marker" * 100

    r = api.put(f"{base}/disk0", params={"new_size": "128M"})
    assert r.status_code == 200, r.text
    assert storage.volume_info(pool, "disk0")["size"] == 128 * MiB
    assert api.get(f"{base}/disk0").json()[0]["stats"]["size"] == "128M"

    r = api.put(f"{base}/disk1", params={"new_name": "data"})
    assert r.status_code == 200, r.text
    assert sorted(storage.volume_names(pool)) == ["data", "disk0"]
    listed = api.get("/api/v1/storage/ceph/volume", params={"pool": pool}).json()
    assert sorted(v["name"] for v in listed) == ["data", "disk0"]
    assert [v["name"] for v in api.get("/api/v1/storage/ceph/volume",
                                       params={"limit": "^dat"}).json()] == ["data"]
    assert api.get(f"/api/v1/storage/ceph/pool/{pool}").json()[0]["volume_count"] == 2

    for name in ("data", "disk0"):
        r = api.delete(f"{base}/{name}")
        assert r.status_code == 200, r.text
    assert storage.volume_names(pool) == []
    assert store.children("pool.volumes", pool=pool) == []


@pytest.mark.parametrize(("params", "status", "words"), [
    ({"size": "-1G"}, 400, "size"),
    ({"size": "0"}, 400, "size"),
    ({"size": "lots"}, 400, "size"),
    ({"size": "1P"}, 400, "free space"),
    ({"volume": "a@b"}, 400, "volume name"),
    ({"pool": "nopool"}, 404, "nopool"),
])
def test_bad_volume_requests_change_nothing(api: TestClient, store: Store,
                                            storage: CephStorage, pool: str,
                                            params: dict[str, str], status: int,
                                            words: str) -> None:
    query = {"pool": pool, "volume": "v1", "size": "16M", **params}
    r = api.post("/api/v1/storage/ceph/volume", params=query)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]
    assert storage.volume_names(pool) == []
    assert store.children("pool.volumes", pool=pool) == []


def test_volume_refusals_on_existing(api: TestClient, storage: CephStorage, pool: str) -> None:
    base = f"/api/v1/storage/ceph/volume/{pool}"
    assert api.post(f"{base}/v1", params={"size": "32M"}).status_code == 200
    assert api.post(f"{base}/v2", params={"size": "16M"}).status_code == 200
    r = api.post(f"{base}/v1", params={"size": "32M"})
    assert r.status_code == 400 and "already exists" in r.json()["message"]
    r = api.put(f"{base}/v1", params={"new_size": "16M"})
    assert r.status_code == 400 and "shrinking" in r.json()["message"]
    r = api.put(f"{base}/v1", params={"new_name": "v2"})
    assert r.status_code == 400 and "already exists" in r.json()["message"]
    r = api.post(f"{base}/v1/clone", params={"new_volume": "v2"})
    assert r.status_code == 400
    assert api.get(f"{base}/nothere").status_code == 404
    assert api.delete(f"{base}/nothere").status_code == 404
    assert storage.volume_info(pool, "v1")["size"] == 32 * MiB
    assert sorted(storage.volume_names(pool)) == ["v1", "v2"]


def test_safe_utilisation_needs_force(api: TestClient, storage: CephStorage, pool: str) -> None:
    from pvc.ops.storage.volumes import pool_space

    free, _ = pool_space(storage, pool)
    size = f"{int(free * 0.9) // MiB}M"
    r = api.post("/api/v1/storage/ceph/volume", params={"pool": pool, "volume": "big",
                                                        "size": size})
    assert r.status_code == 400 and "force" in r.json()["message"], r.text
    assert storage.volume_names(pool) == []
    r = api.post("/api/v1/storage/ceph/volume", params={"pool": pool, "volume": "big",
                                                        "size": size, "force": "True"})
    assert r.status_code == 200, r.text
    assert storage.volume_names(pool) == ["big"]


def test_snapshot_rollback_restores_content(api: TestClient, store: Store,
                                            storage: CephStorage, pool: str) -> None:
    assert api.post(f"/api/v1/storage/ceph/volume/{pool}/vol",
                    params={"size": "16M"}).status_code == 200
    original = bytes(range(256)) * 64
    storage.volume_write(pool, "vol", iter([original]))
    r = api.post("/api/v1/storage/ceph/snapshot", params={"pool": pool, "volume": "vol",
                                                          "snapshot": "before"})
    assert r.status_code == 200, r.text
    storage.volume_write(pool, "vol", iter([b"\xff" * len(original)]))
    assert storage.volume_read(pool, "vol", 0, len(original)) != original

    snap = f"/api/v1/storage/ceph/snapshot/{pool}/vol"
    r = api.post(f"{snap}/before/rollback")
    assert r.status_code == 200, r.text
    assert storage.volume_read(pool, "vol", 0, len(original)) == original

    r = api.put(f"{snap}/before", params={"new_name": "golden"})
    assert r.status_code == 200, r.text
    assert [s["name"] for s in storage.snapshot_list(pool, "vol")] == ["golden"]
    [info] = api.get(f"{snap}/golden").json()
    assert (info["pool"], info["volume"], info["snapshot"]) == (pool, "vol", "golden")
    assert info["timestamp"] > 0
    r = api.post("/api/v1/storage/ceph/snapshot", params={"pool": pool, "volume": "vol",
                                                          "snapshot": "golden"})
    assert r.status_code == 400 and "already exists" in r.json()["message"]
    assert api.post(f"{snap}/nosuch/rollback").status_code == 404

    # renaming the volume carries its snapshots along
    r = api.put(f"/api/v1/storage/ceph/volume/{pool}/vol", params={"new_name": "vol2"})
    assert r.status_code == 200, r.text
    listed = api.get("/api/v1/storage/ceph/snapshot", params={"pool": pool}).json()
    assert [(s["volume"], s["snapshot"]) for s in listed] == [("vol2", "golden")]
    r = api.delete(f"/api/v1/storage/ceph/snapshot/{pool}/vol2/golden")
    assert r.status_code == 200, r.text
    assert storage.snapshot_list(pool, "vol2") == []
    assert store.children("volume.snapshots", pool=pool, volume="vol2") == []


def test_publisher_osd_state_and_flags(api: TestClient, store: Store,
                                       storage: CephStorage, pool: str) -> None:
    from pvc.ops.storage.volumes import pool_space

    pool_space(storage, pool)  # a new pool's figures come with the manager's next report
    publisher = StoragePublisher(store, storage, lambda: True)
    publisher.publish()
    status = api.get("/api/v1/storage/ceph/status").json()
    assert status["type"] == "status" and "HEALTH" in status["ceph_data"]
    assert status["primary_node"] == "hv1"
    assert "POOL" in api.get("/api/v1/storage/ceph/utilization").json()["ceph_data"]
    [osd] = api.get("/api/v1/storage/ceph/osd").json()
    assert osd["id"] == "0" and osd["node"]
    assert (osd["stats"]["up"], osd["stats"]["in"]) == (1, 1)
    assert osd["stats"]["kb"] > 0 and isinstance(osd["stats"]["used"], str)
    [p] = api.get(f"/api/v1/storage/ceph/pool/{pool}").json()
    assert p["stats"]["free_bytes"] > 0

    try:
        r = api.post("/api/v1/storage/ceph/osd/0/state", params={"state": "out"})
        assert r.status_code == 200, r.text
        publisher.publish()
        assert api.get("/api/v1/storage/ceph/osd/0").json()[0]["stats"]["in"] == 0
    finally:
        storage.osd_set_in(0, True)
    r = api.post("/api/v1/storage/ceph/osd/0/state", params={"state": "sideways"})
    assert r.status_code == 400
    assert api.post("/api/v1/storage/ceph/osd/7/state",
                    params={"state": "in"}).status_code == 404

    try:
        r = api.post("/api/v1/storage/ceph/option", params={"option": "noout",
                                                            "action": "set"})
        assert r.status_code == 200, r.text
        assert "noout" in storage.status_text()
    finally:
        storage.set_flag("noout", False)
    r = api.post("/api/v1/storage/ceph/option", params={"option": "rm -rf",
                                                        "action": "set"})
    assert r.status_code == 400


def test_publisher_adopts_pools_made_outside(store: Store, storage: CephStorage,
                                             ceph_cluster: Any) -> None:
    tree.initialize(store)
    name = ceph_cluster.new_pool(_name("ad"))
    try:
        StoragePublisher(store, storage, lambda: True).publish()
        assert name in store.children("root.ceph.pools")
        assert store.read("pool", pool=name)["copies"] == 1
    finally:
        storage.pool_remove(name)


def test_storage_disabled_is_503(store: Store) -> None:
    standard_cluster(store)
    api = client(store)
    r = api.post("/api/v1/storage/ceph/volume", params={"pool": "vms", "volume": "x",
                                                        "size": "1G"})
    assert r.status_code == 503 and "enable_storage" in r.json()["message"]


def test_vm_volumes_follow_the_vm(api: TestClient, store: Store, storage: CephStorage,
                                  pool: str) -> None:
    from tests.integration.api.vm.support import define, domain_xml

    base = f"/api/v1/storage/ceph/volume/{pool}"
    for vol in ("web_disk0", "shared"):
        assert api.post(f"{base}/{vol}", params={"size": "16M"}).status_code == 200
    define(api, "web", xml=domain_xml("web", disks=[f"{pool}/web_disk0", f"{pool}/shared"]))

    r = api.delete(f"{base}/web_disk0")
    assert r.status_code == 400 and 'VM "web"' in r.json()["message"]
    r = api.put(f"{base}/shared", params={"new_name": "other"})
    assert r.status_code == 400 and 'VM "web"' in r.json()["message"]
    assert sorted(storage.volume_names(pool)) == ["shared", "web_disk0"]

    r = api.post("/api/v1/vm/web/rename", params={"new_name": "app"})
    assert r.status_code == 200, r.text
    assert sorted(storage.volume_names(pool)) == ["app_disk0", "shared"]
    assert sorted(store.children("pool.volumes", pool=pool)) == ["app_disk0", "shared"]
    xml = api.get("/api/v1/vm/app").json()[0]["xml"]
    assert f"{pool}/app_disk0" in xml and f"{pool}/shared" in xml

    r = api.delete("/api/v1/vm/app", params={"delete_disks": "True"})
    assert r.status_code == 200, r.text
    assert storage.volume_names(pool) == []
    assert store.children("pool.volumes", pool=pool) == []
    assert api.get("/api/v1/vm/app").status_code == 404
