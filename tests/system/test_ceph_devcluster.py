"""Ceph and Redis in the 3-node development cluster: three mons in quorum, one OSD per
node with the node as its CRUSH host, the `vms` pool (3 replicas, min 2), HEALTH_OK,
processes inside a node reaching Ceph through its own /etc/ceph, Ceph services that
stop, start and survive a power cycle, and Redis replicated under Sentinel."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pvc.devcluster import cluster as devcluster
from pvc.devcluster.ceph import cluster as cephdev
from pvc.devcluster.ceph.admin import CephAdmin
from tests.system.conftest import DevCluster

pytestmark = pytest.mark.system


@pytest.fixture
def admin(devcluster_3: DevCluster) -> Iterator[CephAdmin]:
    spec = devcluster_3.spec
    with CephAdmin(cephdev.host_conf(spec), cephdev.host_keyring(spec), timeout=30) as a:
        yield a


def wait_ceph_ok(cluster: DevCluster, admin: CephAdmin, timeout: float = 120) -> None:
    names = cluster.spec.coordinator_names

    def ok() -> bool:
        states = admin.osd_states()
        return (sorted(admin.quorum()) == names and len(states) == 3
                and all(s == (True, True) for s in states.values())
                and admin.health()["status"] == "HEALTH_OK")
    cluster.wait_for("Ceph HEALTH_OK with 3 mons and 3 OSDs", ok, timeout=timeout,
                     interval=0.5)


def test_mons_osds_and_pool(devcluster_3: DevCluster, admin: CephAdmin) -> None:
    assert sorted(admin.quorum()) == ["hv1", "hv2", "hv3"]
    mon_addrs = {m["name"]: m["public_addrs"]["addrvec"]
                 for m in admin.command("mon dump")["mons"]}
    for node in ("hv1", "hv2", "hv3"):
        storage_ip = str(devcluster_3.spec.node_address(node, "storage").ip)
        assert {a["addr"].split(":")[0] for a in mon_addrs[node]} == {storage_ip}
    assert admin.osd_states() == {0: (True, True), 1: (True, True), 2: (True, True)}
    tree = admin.command("osd tree")["nodes"]
    hosts = {n["name"]: n["children"] for n in tree if n["type"] == "host"}
    assert hosts == {"hv1": [0], "hv2": [1], "hv3": [2]}
    pools = {p["pool_name"]: p for p in admin.command("osd pool ls", detail="detail")}
    vms = pools["vms"]
    assert (vms["size"], vms["min_size"]) == (3, 2)
    assert vms["pg_num"] & (vms["pg_num"] - 1) == 0
    assert "rbd" in vms["application_metadata"]
    mgr = admin.command("mgr dump")
    assert mgr["available"] and mgr["active_name"] in ("hv1", "hv2", "hv3")
    assert len(mgr["standbys"]) == 2
    assert admin.health()["status"] == "HEALTH_OK", admin.health_line()


def test_processes_inside_a_node_reach_ceph(devcluster_3: DevCluster,
                                            admin: CephAdmin) -> None:
    script = ("import json, rados; c = rados.Rados(conffile='/etc/ceph/ceph.conf'); "
              "c.connect(timeout=10); io = c.open_ioctx('vms'); "
              "io.write_full('probe', b'from-hv2'); "
              "print(json.dumps([c.get_fsid(), io.read('probe').decode()])); c.shutdown()")
    res = devcluster_3.dev("exec", "hv2", "--", "/usr/bin/python3", "-c", script)
    fsid, data = json.loads(res.stdout)
    assert fsid == admin.cluster.get_fsid() and data == "from-hv2"
    for node in devcluster_3.spec.node_names:
        keyring = devcluster_3.spec.node_dir(node) / "etc/ceph/ceph.client.admin.keyring"
        assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    status = devcluster_3.dev("status").stdout
    assert "Ceph: HEALTH_OK" in status


def test_redis_is_one_master_that_every_sentinel_names(devcluster_3: DevCluster) -> None:
    """Every coordinator runs a Redis and a Sentinel; the Sentinels agree on one master,
    which every other Redis replicates, and every Redis appends its writes to disk."""
    spec = devcluster_3.spec
    addrs = [str(spec.node_address(n, "cluster").ip) for n in spec.coordinator_names]

    def one_master_with_replicas() -> bool:
        named = {tuple(redis.Redis(a, 26379, socket_timeout=5, decode_responses=True)
                       .sentinel_get_master_addr_by_name("pvc") or ()) for a in addrs}
        if len(named) != 1:
            return False
        host, port = next(iter(named))
        info = redis.Redis(str(host), int(port), socket_timeout=5).info("replication")
        return bool(host in addrs and info["role"] == "master"
                    and info["connected_slaves"] == len(addrs) - 1)

    devcluster_3.wait_for("one master and its replicas", one_master_with_replicas, timeout=30)
    for a in addrs:
        assert redis.Redis(a, 6379, socket_timeout=5).config_get("appendonly") == {
            "appendonly": "yes"}


def services(cluster: DevCluster, node: str) -> dict[str, Any]:
    reply = devcluster.control(cluster.spec, node, {"cmd": "status"})
    out: dict[str, Any] = reply["services"]
    return out


def osd_state(admin: CephAdmin, osd: int) -> tuple[bool, bool] | None:
    return admin.osd_states().get(osd)


def test_osd_service_stops_and_starts(devcluster_3: DevCluster, admin: CephAdmin) -> None:
    out = devcluster_3.dev("service", "hv3", "ceph-osd", "stop").stdout
    assert "stopped" in out
    devcluster_3.wait_for("osd.2 down", lambda: osd_state(admin, 2) == (False, True),
                          timeout=60)
    out = devcluster_3.dev("service", "hv3", "ceph-osd", "start").stdout
    assert "running" in out
    wait_ceph_ok(devcluster_3, admin)


def test_power_cycle_brings_mon_mgr_and_osd_back(devcluster_3: DevCluster,
                                                  admin: CephAdmin) -> None:
    victim = next(n for n in ("hv3", "hv2") if n != devcluster_3.primary())
    osd = devcluster_3.spec.node_index(victim) - 1
    # maintenance: the node stays off until we power it on (no fence cycles it meanwhile)
    devcluster_3.pvc("cluster", "maintenance", "on")
    try:
        devcluster_3.dev("power", victim, "off")
        devcluster_3.wait_for(f"mon {victim} out of quorum",
                              lambda: victim not in admin.quorum(), timeout=60)
        devcluster_3.dev("power", victim, "on")
    finally:
        # (the API may be moving: the node's ZooKeeper server went down with it)
        devcluster_3.wait_for("maintenance off", lambda: devcluster_3.pvc(
            "cluster", "maintenance", "off", check=False).returncode == 0, timeout=90)
    wait_ceph_ok(devcluster_3, admin, timeout=180)
    assert osd_state(admin, osd) == (True, True)
    # the node's init runs these (a daemon that exits is restarted after 1 s) ...
    wanted = ("redis", "ceph-mon", "ceph-mgr")
    devcluster_3.wait_for(
        f"{', '.join(wanted)} running on {victim}",
        lambda: all(s["running"] for n, s in services(devcluster_3, victim).items()
                    if n in wanted) and wanted, timeout=60)
    assert set(wanted) <= set(services(devcluster_3, victim))
    # ... and its pvcnoded its OSD, through its service control, as on a real node
    assert "ceph-osd" not in services(devcluster_3, victim)
    assert f"ceph-osd@{osd}" in "\n".join(devcluster_3.api().node_log(victim, 400))
    assert "running" in devcluster_3.dev("service", victim, "ceph-osd", "status").stdout
    devcluster_3.wait_healthy(120)


def test_pvcnoded_stops_its_osd_on_shutdown_and_starts_it_again(
        devcluster_3: DevCluster, admin: CephAdmin) -> None:
    """A graceful stop of the node daemon stops the node's OSD through the same service
    control as `osd remove`; its start brings the OSD back."""
    victim = next(n for n in ("hv3", "hv2") if n != devcluster_3.primary())
    osd = devcluster_3.spec.node_index(victim) - 1
    devcluster_3.dev("service", victim, "pvcnoded", "stop")
    try:
        assert "stopped" in devcluster_3.dev("service", victim, "ceph-osd", "status").stdout
        devcluster_3.wait_for(f"osd.{osd} down", lambda: osd_state(admin, osd) == (False, True),
                              timeout=60)
    finally:
        devcluster_3.dev("service", victim, "pvcnoded", "start")
    devcluster_3.wait_for(f"osd.{osd} up", lambda: osd_state(admin, osd) == (True, True),
                          timeout=90)
    assert "running" in devcluster_3.dev("service", victim, "ceph-osd", "status").stdout
    wait_ceph_ok(devcluster_3, admin)


def test_every_node_runs_a_task_worker(devcluster_3: DevCluster) -> None:
    """pvcworkerd runs on every node and answers the API's `GET /tasks` through Redis."""
    api = devcluster_3.api()

    def workers() -> set[str]:
        return set(api.get("/tasks")["active"])
    want = {f"pvcworkerd@{n}" for n in devcluster_3.spec.node_names}
    devcluster_3.wait_for("a worker on every node", lambda: workers() == want, timeout=60)
    for node in devcluster_3.spec.node_names:
        assert services(devcluster_3, node)["pvcworkerd"]["running"]
