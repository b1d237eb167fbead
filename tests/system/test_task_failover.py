"""Tasks survive the loss of the primary: the node that is both the PVC primary and the
Redis master is powered off through its BMC while one task runs on another node (an OSD
add) and one waits in the queue of a third node (whose worker is stopped). The Sentinels
promote a replica, the API moves, and both tasks end SUCCESS, as `pvc` reports them."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest
import redis

from pvc.client.storage.api import StorageApi
from tests.system.conftest import DevCluster
from tests.system.test_fencing import power_cut
from tests.system.vmhelpers import define, post

pytestmark = pytest.mark.system


def redis_master(dc: DevCluster) -> str | None:
    """The coordinator whose Redis every reachable Sentinel names as the master."""
    spec = dc.spec
    by_ip = {str(spec.node_address(n, "cluster").ip): n for n in spec.coordinator_names}
    named = set()
    for ip in by_ip:
        try:
            addr: Any = redis.Redis(ip, 26379, socket_timeout=2, decode_responses=True
                                    ).sentinel_get_master_addr_by_name("pvc")
        except redis.RedisError:
            continue
        named.add(by_ip.get(str(addr[0])) if addr else None)
    return named.pop() if len(named) == 1 else None


def osd_ids(dc: DevCluster) -> set[str]:
    return {str(o["id"]) for o in StorageApi(dc.api()).osd_list()}


def task_state(dc: DevCluster, task_id: str) -> dict[str, Any]:
    with dc.api() as client:
        found: dict[str, Any] = client.get(f"/tasks/{task_id}")
        return found


def test_tasks_survive_the_loss_of_the_primary_and_the_broker_master(
        devcluster_3: DevCluster) -> None:
    dc = devcluster_3
    master = dc.wait_for("the Sentinels to agree on a master", lambda: redis_master(dc))
    if dc.primary() != master:  # one power cut takes both the API and the broker
        dc.pvc("node", "primary", master, "--wait")
        dc.wait_for(f"{master} to be primary", lambda: dc.primary() == master, timeout=60)
    runner, holder = [n for n in dc.spec.node_names if n != master]
    image = dc.spec.node_dir(runner) / "var/lib/ceph/failover-osd.img"
    with image.open("wb") as f:
        f.truncate(3 * 1024**3)
    # queued: a task for a node whose worker is stopped
    dc.dev("service", holder, "pvcworkerd", "stop")
    define(dc, "queued0", holder, start=False)
    r = post(dc, "/vm/queued0/locks")
    assert r.status_code == 202, r.text
    queued = r.json()["task_id"]
    # running: an OSD add on another node
    osds_before = osd_ids(dc)
    r = post(dc, "/storage/ceph/osd", node=runner, device="/var/lib/ceph/failover-osd.img",
             weight="0.001")
    assert r.status_code == 202, r.text
    running = r.json()["task_id"]
    dc.wait_for("the OSD add to run", lambda: task_state(dc, running)["state"] == "RUNNING",
                timeout=60)
    assert task_state(dc, queued)["state"] == "PENDING"
    cut_at = time.monotonic()
    power_cut(dc, master)
    # the Sentinels promote a survivor's Redis; the API moves to a survivor
    new_master = dc.wait_for("a new Redis master", lambda: (
        (m := redis_master(dc)) in (runner, holder) and m), timeout=60)
    dc.wait_for("a new primary", lambda: dc.primary() in (runner, holder), timeout=60)
    failover = time.monotonic() - cut_at
    dc.dev("service", holder, "pvcworkerd", "start")
    for task_id in (running, queued):
        try:
            out = dc.pvc("cluster", "task", task_id, "--wait", timeout=120)
        except subprocess.TimeoutExpired:
            ip = str(dc.spec.node_address(new_master, "cluster").ip)
            raise AssertionError((task_state(dc, task_id), redis.Redis(ip, 6379).get(
                f"celery-task-meta-{task_id}"), redis.Redis(ip, 6379).get(
                f"pvc:task:{task_id}"))) from None
        assert out.stdout.startswith("SUCCESS: "), (out.stdout, out.stderr)
    assert new_master != master and failover < 60
    # leave the cluster as found: the victim back and ready, the OSD and the VM gone
    dc.wait_for(f"{master} back after its fence", lambda: dc.api().node_info(master)[
        "daemon_state"] == "run", timeout=240)
    dc.pvc("node", "ready", master, "--wait", timeout=180)
    (osd,) = osd_ids(dc) - osds_before
    dc.pvc("storage", "osd", "remove", osd, "--yes", "--wait", timeout=600)
    dc.pvc("vm", "remove", "queued0", "--yes")
    image.unlink()
