"""CephStorage against a real Ceph cluster: cluster text and health, flags, OSDs, pools,
error mapping, time-outs and reconnection.

Volumes, snapshots and locks are in test_ceph_driver_rbd.py. Every check reads Ceph's
own view through a separate librados client (`raw`) besides what the driver reports.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    import rados
except ImportError:  # Debian's python3-rados
    pytest.skip("python3-rados is not installed", allow_module_level=True)

from pvc.common.errors import AlreadyExists, BackendError, InvalidArgument, NotFound
from pvc.drivers.storage.base import Storage
from pvc.drivers.storage.ceph import CephStorage
from pvc.drivers.storage.ceph_figures import parse_osd_status
from tests.integration.cephsupport import CephTestCluster

pytestmark = pytest.mark.integration


class Raw:
    """Ceph's own view, through a librados client of its own."""

    def __init__(self, cluster: CephTestCluster) -> None:
        self.cluster = rados.Rados(conffile=str(cluster.conf_path),
                                   conf={"keyring": str(cluster.keyring_path)})
        self.cluster.connect(timeout=10)

    def command(self, prefix: str, mgr: bool = False, **args: Any) -> Any:
        cmd = json.dumps({"prefix": prefix, "format": "json", **args})
        send = self.cluster.mgr_command if mgr else self.cluster.mon_command
        ret, out, outs = send(cmd, b"")
        assert ret == 0, f"{prefix}: {outs}"
        # `osd blocklist ls` prints a second (range) list after the first one
        return json.JSONDecoder().raw_decode(out.decode())[0] if out.strip() else None

    def pools(self) -> dict[str, dict[str, Any]]:
        return {p["pool_name"]: p for p in self.command("osd dump")["pools"]}

    def osd(self, osd_id: int) -> dict[str, Any]:
        return next(o for o in self.command("osd dump")["osds"] if o["osd"] == osd_id)

    def wait(self, what: str, check: Any, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def all_pgs_active(self) -> bool:
        states = self.command("pg stat", mgr=True)["pg_summary"]
        total = int(states["num_pgs"])
        active = sum(int(s["num"]) for s in states["num_pg_by_state"]
                     if "active" in s["name"].split("+"))
        return active == total


@pytest.fixture(scope="module")
def raw(ceph_cluster: CephTestCluster) -> Iterator[Raw]:
    oracle = Raw(ceph_cluster)
    yield oracle
    oracle.cluster.shutdown()


@pytest.fixture(scope="module")
def storage(ceph_cluster: CephTestCluster) -> Iterator[CephStorage]:
    driver = CephStorage(ceph_cluster.conf_path, ceph_cluster.keyring_path, timeout=10)
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def pool(ceph_cluster: CephTestCluster, storage: CephStorage) -> Iterator[str]:
    """One rbd pool for this module's volumes; removed afterwards (PGs per OSD are few)."""
    name = ceph_cluster.new_pool(unique("drv"))
    yield name
    storage.pool_remove(name)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_is_a_storage(storage: CephStorage) -> None:
    backend: Storage = storage
    assert backend is storage


# -- cluster ---------------------------------------------------------------------------
def test_status_and_df_text(storage: CephStorage, raw: Raw, pool: str) -> None:
    status = storage.status_text()
    assert "cluster:" in status and "health:" in status
    assert raw.cluster.get_fsid() in status
    df = storage.df_text()
    assert "RAW STORAGE" in df and "POOLS" in df
    # pool usage reaches the monitors with the manager's next report
    raw.wait("the pool in ceph df", lambda: pool in storage.df_text())


def test_health(storage: CephStorage, raw: Raw) -> None:
    for _ in range(20):  # health can move between the two reads (PGs peering)
        health = storage.health()
        expected = raw.command("health")
        if health["status"] == expected["status"] and \
                set(health["checks"]) == set(expected["checks"]):
            break
        time.sleep(0.2)
    assert health["status"] == expected["status"]
    assert set(health["checks"]) == set(expected["checks"])
    assert {k: v["summary"]["message"] for k, v in expected["checks"].items()} == \
        health["checks"]


def test_flags_set_and_unset(storage: CephStorage, raw: Raw) -> None:
    try:
        storage.set_flag("noout", True)
        assert "noout" in raw.command("osd dump")["flags_set"]
        raw.wait("the noout warning",
                 lambda: "noout" in storage.health()["checks"].get("OSDMAP_FLAGS", ""))
        assert storage.health()["status"] == "HEALTH_WARN"
    finally:
        storage.set_flag("noout", False)
    assert "noout" not in raw.command("osd dump")["flags_set"]


def test_flags_refused(storage: CephStorage, raw: Raw) -> None:
    before = raw.command("osd dump")["flags_set"]
    with pytest.raises(InvalidArgument, match="unknown OSD flag"):
        storage.set_flag("nonsense", True)
    # listed by PVC's API, but Pacific no longer knows it: Ceph's refusal is mapped
    with pytest.raises(InvalidArgument, match="require_jewel_osds"):
        storage.set_flag("require_jewel_osds", True)
    assert raw.command("osd dump")["flags_set"] == before


# -- OSDs ------------------------------------------------------------------------------
def test_osd_list_figures(storage: CephStorage, raw: Raw) -> None:
    osds = storage.osd_list()
    assert [o["id"] for o in osds] == [0]
    osd = osds[0]
    tree = raw.command("osd tree")["nodes"]
    host = next(n["name"] for n in tree if n["type"] == "host" and 0 in n["children"])
    dump = raw.osd(0)
    assert osd["node"] == host
    assert (osd["up"], osd["in"]) == (1, 1)
    assert osd["uuid"] == dump["uuid"]
    assert "up" in osd["state"] and "exists" in osd["state"]
    assert osd["primary_affinity"] == pytest.approx(1.0)
    assert osd["reweight"] == pytest.approx(1.0)
    assert osd["weight"] > 0
    assert osd["kb"] > 0 and 0 < osd["used"] < osd["kb"] and 0 < osd["avail"] < osd["kb"]
    assert 0 < osd["utilization"] < 100 and osd["pgs"] >= 1
    for key in ("wr_ops", "wr_data", "rd_ops", "rd_data"):
        assert isinstance(osd[key], int) and osd[key] >= 0


def test_osd_io_rates_parsed_from_the_manager_table(raw: Raw) -> None:
    ret, out, outs = raw.cluster.mgr_command(json.dumps({"prefix": "osd status"}), b"")
    assert ret == 0, outs
    assert set(parse_osd_status(out.decode())) == {0}
    table = ("ID  HOST   USED  AVAIL  WR OPS  WR DATA  RD OPS  RD DATA  STATE\n"
             " 3  hv1    290M  1757M   12.5k    1536k      7     2.0M   exists,up\n"
             " 4         0      0        0        0       0        0    exists\n")
    assert parse_osd_status(table) == {
        3: {"wr_ops": 12500, "wr_data": 1536 * 1024, "rd_ops": 7, "rd_data": 2 * 1024**2},
        4: {"wr_ops": 0, "wr_data": 0, "rd_ops": 0, "rd_data": 0},
    }


def test_osd_out_and_in(storage: CephStorage, raw: Raw, pool: str) -> None:
    try:
        storage.osd_set_in(0, False)
        assert raw.osd(0)["in"] == 0
        assert storage.osd_list()[0]["in"] == 0
    finally:
        storage.osd_set_in(0, True)
    assert raw.osd(0)["in"] == 1
    assert storage.osd_list()[0]["in"] == 1
    # the only OSD was out: let its placement groups come back before other tests (the
    # write waits for its PG to peer again; the manager's PG states lag a little)
    with raw.cluster.open_ioctx(pool) as ioctx:
        ioctx.write_full("barrier", b"in again")
    raw.wait("all placement groups active", raw.all_pgs_active)
    with pytest.raises(NotFound, match="OSD 7"):
        storage.osd_set_in(7, False)


# -- pools -----------------------------------------------------------------------------
def test_pool_usage_figures(storage: CephStorage, raw: Raw, pool: str) -> None:
    with raw.cluster.open_ioctx(pool) as ioctx:
        for n in range(3):
            ioctx.write_full(f"obj{n}", b"x" * 1000)
    # usage reaches the monitors with the manager's next report (a few seconds)
    raw.wait("the pool's objects in its figures", lambda: next(
        p for p in storage.pool_list() if p["name"] == pool)["num_objects"] >= 3)
    figures = next(p for p in storage.pool_list() if p["name"] == pool)
    stats = next(p["stats"] for p in raw.command("df", detail="detail")["pools"]
                 if p["name"] == pool)
    assert figures["stored_bytes"] == stats["stored"] >= 3000
    assert figures["used_bytes"] == stats["bytes_used"] > 0
    assert figures["free_bytes"] == pytest.approx(stats["max_avail"], rel=0.05)
    assert 0 < figures["used_percent"] < 1
    assert figures["write_ops"] >= 3 and figures["write_bytes"] >= 3000
    assert figures["num_object_copies"] >= 3
    for key in ("num_object_clones", "num_objects_degraded", "num_objects_unfound",
                "num_objects_missing_on_primary", "read_ops", "read_bytes"):
        assert isinstance(figures[key], int) and figures[key] >= 0, key


def test_pool_lifecycle(storage: CephStorage, raw: Raw) -> None:
    name = unique("drv-pool")
    storage.pool_create(name, pgs=8, copies=1, mincopies=1)
    pool = raw.pools()[name]
    assert "rbd" in pool["application_metadata"]
    assert pool["pg_autoscale_mode"] == "off"
    figures = {p["name"]: p for p in storage.pool_list()}[name]
    assert figures["id"] == pool["pool"] == raw.cluster.pool_lookup(name)
    assert (figures["size"], figures["min_size"], figures["pg_num"]) == (1, 1, 8)

    with pytest.raises(AlreadyExists, match=name):
        storage.pool_create(name, pgs=8, copies=1, mincopies=1)

    storage.pool_set_pgs(name, 16)
    assert raw.pools()[name]["pg_num_target"] == 16  # the mgr splits PGs in steps

    storage.pool_remove(name)
    assert name not in raw.pools()
    assert name not in {p["name"] for p in storage.pool_list()}
    with pytest.raises(NotFound, match=f"pool {name}"):
        storage.pool_remove(name)
    with pytest.raises(NotFound, match=f"pool {name}"):
        storage.pool_set_pgs(name, 8)


def test_pool_on_a_tier_gets_a_device_class_rule(storage: CephStorage, raw: Raw) -> None:
    name = unique("drv-tier")
    storage.pool_create(name, pgs=4, copies=1, mincopies=1, tier="hdd")
    try:
        rule = raw.command("osd crush rule dump", name="hdd_tier")
        takes = [s["item_name"] for s in rule["steps"] if s["op"] == "take"]
        assert takes == ["default~hdd"]
        chooses = [s["type"] for s in rule["steps"] if s["op"].startswith("choose")]
        assert chooses == ["host"]
        assert raw.pools()[name]["crush_rule"] == rule["rule_id"]
    finally:
        storage.pool_remove(name)
    # a second pool on the same tier reuses the rule
    again = unique("drv-tier")
    storage.pool_create(again, pgs=4, copies=1, mincopies=1, tier="hdd")
    try:
        assert raw.pools()[again]["crush_rule"] == rule["rule_id"]
    finally:
        storage.pool_remove(again)


@pytest.mark.parametrize(("pgs", "copies", "mincopies", "tier"), [
    (0, 1, 1, None), (8, 0, 1, None), (8, 1, 2, None), (8, 2, 0, None), (8, 1, 1, "Bad Tier"),
])
def test_pool_create_refuses_bad_settings(storage: CephStorage, raw: Raw, pgs: int,
                                          copies: int, mincopies: int,
                                          tier: str | None) -> None:
    name = unique("drv-bad")
    with pytest.raises(InvalidArgument):
        storage.pool_create(name, pgs=pgs, copies=copies, mincopies=mincopies, tier=tier)
    assert name not in raw.pools()


def test_pool_min_size_is_set(storage: CephStorage, raw: Raw) -> None:
    name = unique("drv-min")
    # two copies on one OSD never go clean, but the settings are what matter here
    storage.pool_create(name, pgs=1, copies=2, mincopies=2)
    try:
        pool = raw.pools()[name]
        assert (pool["size"], pool["min_size"]) == (2, 2)
    finally:
        storage.pool_remove(name)


# -- errors, time-outs, reconnection ---------------------------------------------------
def test_missing_pool_is_not_found(storage: CephStorage) -> None:
    with pytest.raises(NotFound, match="pool no-such-pool does not exist"):
        storage.volume_names("no-such-pool")
    with pytest.raises(NotFound, match="pool no-such-pool"):
        storage.volume_create("no-such-pool", "disk", 1 << 20)


def _dead_conf(tmp_path: Path) -> Path:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = tmp_path / "dead.conf"
    conf.write_text(f"[global]\nfsid = {uuid.uuid4()}\nmon_host = v2:127.0.0.1:{port}\n"
                    "auth_client_required = none\nlog_file = \nadmin_socket = \n")
    return conf


def test_dead_cluster_fails_within_the_timeout(tmp_path: Path) -> None:
    """Four callers at once: all get a BackendError after about one time-out (2 s), not
    one after the other."""
    storage = CephStorage(_dead_conf(tmp_path), timeout=2)
    failures: list[BaseException] = []

    def call() -> None:
        try:
            storage.health()
        except BaseException as exc:
            failures.append(exc)

    try:
        started = time.monotonic()
        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        elapsed = time.monotonic() - started
        assert len(failures) == 4
        assert all(isinstance(f, BackendError) and "cannot connect to Ceph" in str(f)
                   for f in failures), failures
        assert 1.5 < elapsed < 4.5
    finally:
        storage.close()


def test_unreadable_config_is_a_backend_error(tmp_path: Path) -> None:
    storage = CephStorage(tmp_path / "missing.conf", timeout=2)
    with pytest.raises(BackendError):
        storage.status_text()


def test_reconnects_after_being_blocklisted(ceph_cluster: CephTestCluster, raw: Raw,
                                            pool: str) -> None:
    storage = CephStorage(ceph_cluster.conf_path, ceph_cluster.keyring_path, timeout=10)
    try:
        storage.volume_create(pool, "fenced", 1 << 20)
        with storage._conn.cluster() as handle:  # whitebox: the handle's own address
            address = handle.get_addrs()
        ret, _, outs = raw.cluster.mon_command(json.dumps(
            {"prefix": "osd blocklist", "blocklistop": "add", "addr": address}), b"")
        assert ret == 0, outs
        with pytest.raises(BackendError):
            storage.volume_write(pool, "fenced", iter([b"fenced"]))
        # the next call connects afresh and works
        assert storage.volume_write(pool, "fenced", iter([b"again"])) == 5
        assert storage.volume_read(pool, "fenced", 0, 5) == b"again"
        with storage._conn.cluster() as handle:
            assert handle.get_addrs() != address
    finally:
        storage.close()


def test_one_handle_serves_threads(ceph_cluster: CephTestCluster, pool: str) -> None:
    storage = CephStorage(ceph_cluster.conf_path, ceph_cluster.keyring_path, timeout=10)
    errors: list[BaseException] = []
    handles: set[int] = set()

    def work(n: int) -> None:
        try:
            storage.volume_create(pool, f"disk{n}", 1 << 20)
            storage.volume_write(pool, f"disk{n}", iter([f"thread {n}".encode()]))
            assert storage.volume_read(pool, f"disk{n}", 0, 8) == f"thread {n}".encode()[:8]
            with storage._conn.cluster() as handle:
                handles.add(id(handle))
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert len(handles) == 1
        assert set(storage.volume_names(pool)) >= {f"disk{n}" for n in range(8)}
    finally:
        storage.close()
