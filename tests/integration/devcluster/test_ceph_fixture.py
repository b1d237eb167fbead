"""The loopback Ceph test cluster works: librados connects with its config, a fresh pool
stores and returns objects, the cluster reports itself healthy; and the bootstrap
primitives refuse bad names and values."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from pvc.common.errors import BackendError, InvalidArgument
from pvc.devcluster.ceph import boot as cephboot
from pvc.devcluster.ceph.admin import check_pool
from tests.integration.cephsupport import CephTestCluster

pytestmark = pytest.mark.integration


def test_rados_roundtrip_in_a_fresh_pool(ceph_cluster: CephTestCluster) -> None:
    import rados

    pool = ceph_cluster.new_pool(f"fx-{uuid.uuid4().hex[:8]}")
    cluster = rados.Rados(conffile=str(ceph_cluster.conf_path))
    cluster.connect(timeout=10)
    try:
        assert pool in cluster.list_pools()
        with cluster.open_ioctx(pool) as io:
            io.write_full("hello", b"world of ceph")
            assert io.read("hello") == b"world of ceph"
            assert io.stat("hello")[0] == len(b"world of ceph")
    finally:
        cluster.shutdown()
    with ceph_cluster.admin() as admin:
        detail = {p["pool_name"]: p for p in admin.command("osd pool ls", detail="detail")}
    assert detail[pool]["size"] == 1 and detail[pool]["pg_num"] == 8
    assert "rbd" in detail[pool]["application_metadata"]


def test_ceph_cli_reports_health(ceph_cluster: CephTestCluster) -> None:
    res = subprocess.run(["ceph", "-c", str(ceph_cluster.conf_path), "--connect-timeout", "10",
                          "health", "--format", "json"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["status"] in ("HEALTH_OK", "HEALTH_WARN")
    with ceph_cluster.admin() as admin:
        states = admin.osd_states()
        assert states == {0: (True, True)}
        assert admin.quorum() == ["a"]


def test_processes_are_ours(ceph_cluster: CephTestCluster) -> None:
    for pid in ceph_cluster.pids:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            assert str(ceph_cluster.conf_path).encode() in fh.read()


def test_bootstrap_refuses_bad_names_and_values(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        cephboot.MonAddress("a b", "127.0.0.1")
    with pytest.raises(InvalidArgument):
        cephboot.check_name("../etc")
    with pytest.raises(InvalidArgument):
        cephboot.ClusterSettings(fsid="not-a-uuid", mons=(cephboot.MonAddress("a", "10.0.0.1"),),
                                 public_network="10.0.0.0/24", block_size=1 << 30)
    with pytest.raises(InvalidArgument):
        cephboot.render_conf({"global": {"mon_host": "x\n[osd]"}})
    with pytest.raises(InvalidArgument):
        cephboot.check_osd_id(-1)
    with pytest.raises(InvalidArgument):
        check_pool("bad/pool")
    with pytest.raises(BackendError) as err:
        cephboot.run(["/usr/bin/monmaptool", "--print", str(tmp_path / "missing")])
    assert "monmaptool" in str(err.value)


def test_conf_of_a_three_mon_cluster(tmp_path: Path) -> None:
    mons = tuple(cephboot.MonAddress(f"hv{i}", f"10.9.2.{i}") for i in (1, 2, 3))
    s = cephboot.ClusterSettings(fsid=cephboot.new_fsid(), mons=mons,
                                 public_network="10.9.2.0/24", block_size=3 << 30)
    text = cephboot.render_conf(cephboot.conf_sections(s))
    assert "mon_host = [v2:10.9.2.1:3300,v1:10.9.2.1:6789],[v2:10.9.2.2:3300" in text
    assert "auth_allow_insecure_global_id_reclaim = false" in text
    assert f"bluestore_block_size = {3 << 30}" in text
    monmap = cephboot.create_monmap(tmp_path / "monmap", s.fsid, mons)
    printed = cephboot.run(["/usr/bin/monmaptool", "--print", str(monmap)])
    assert s.fsid in printed and "hv3" in printed
