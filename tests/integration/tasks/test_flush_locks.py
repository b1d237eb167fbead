"""`vm.flush_locks` end to end: the API starts the task on the VM's node, a real
`pvcworkerd` reads the VM from ZooKeeper and breaks the locks on its RBD disks in a real
Ceph cluster (one that another client took with librbd)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.api.vm.support import define, domain_xml, set_status, uuid_of
from tests.integration.cephsupport import CephTestCluster
from tests.integration.tasks.ceph_support import NODE, TaskCluster, task_cluster
from tests.integration.tasks.support import poll_task

rados = pytest.importorskip("rados")
rbd = pytest.importorskip("rbd")

pytestmark = pytest.mark.integration

POOL = "lockpool"
FINAL = ("SUCCESS", "FAILURE")


@pytest.fixture(scope="module")
def tc(zk_server: str, ceph_cluster: CephTestCluster,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskCluster]:
    ceph_cluster.new_pool(POOL)
    with task_cluster(zk_server, ceph_cluster, tmp_path_factory.mktemp("locks")) as cluster:
        yield cluster


@pytest.fixture
def other_node(ceph_cluster: CephTestCluster) -> Iterator[Any]:
    """A second Ceph client, standing for the node whose QEMU held the disk."""
    client = rados.Rados(conffile=str(ceph_cluster.conf_path),
                         conf={"keyring": str(ceph_cluster.keyring_path)})
    client.connect(timeout=10)
    yield client
    client.shutdown()


def vm_with_disks(tc: TaskCluster, name: str, *volumes: str, state: str = "stop") -> str:
    for volume in volumes:
        tc.storage.volume_create(POOL, volume, 64 * 1024**2)
    define(tc.api, name, node=NODE, xml=domain_xml(name, disks=[f"{POOL}/{v}" for v in volumes]))
    set_status(tc.store, uuid_of(name), state=state, node=NODE)
    return uuid_of(name)


def blocklisted(ceph: CephTestCluster) -> set[str]:
    with rados.Rados(conffile=str(ceph.conf_path), conf={"keyring": str(ceph.keyring_path)}) \
            as admin:
        ret, out, outs = admin.mon_command(
            json.dumps({"prefix": "osd blocklist ls", "format": "json"}), b"")
    assert ret == 0, outs
    entries = json.JSONDecoder().raw_decode(out.decode())[0]  # a range list may follow
    return {e["addr"] for e in entries}


def lock(client: Any, volume: str, cookie: str = "qemu") -> None:
    with client.open_ioctx(POOL) as ioctx, rbd.Image(ioctx, volume) as image:
        image.lock_exclusive(cookie)


def flush(tc: TaskCluster, vm: str) -> dict[str, Any]:
    response = tc.api.post(f"/api/v1/vm/{vm}/locks")
    assert response.status_code == 202, response.text
    task: dict[str, Any] = response.json()
    assert set(task) == {"task_id", "task_name", "run_on"}
    assert task["task_name"] == "vm.flush_locks" and task["run_on"] == NODE
    return task


def test_flush_locks_breaks_the_locks_of_a_stopped_vm(tc: TaskCluster, other_node: Any,
                                                      ceph_cluster: CephTestCluster) -> None:
    vm_with_disks(tc, "locked1", "locked1_disk0", "locked1_disk1")
    lock(other_node, "locked1_disk0")
    held = tc.storage.lock_list(POOL, "locked1_disk0")
    assert [lk["cookie"] for lk in held] == ["qemu"]
    task = flush(tc, "locked1")
    body = poll_task(tc.api, task["task_id"], lambda b: b["state"] in FINAL, timeout=30)
    assert body["state"] == "SUCCESS", body
    assert (body["current"], body["total"]) == (3, 3)
    assert body["status"] == (f'Flushed 1 RBD lock(s) of VM "locked1": {POOL}/locked1_disk0 '
                              f"({held[0]['locker']}).")
    assert tc.storage.lock_list(POOL, "locked1_disk0") == []
    assert tc.storage.lock_list(POOL, "locked1_disk1") == []
    # the holder is fenced off: it cannot write behind the new owner's back
    assert other_node.get_addrs() in blocklisted(ceph_cluster)


def test_the_cli_flushes_and_waits(tc: TaskCluster, other_node: Any) -> None:
    uuid = vm_with_disks(tc, "locked2", "locked2_disk0", state="fail")
    lock(other_node, "locked2_disk0", "stale")
    result = tc.pvc("vm", "flush-locks", uuid)  # by UUID; waits by default
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('SUCCESS: Flushed 1 RBD lock(s) of VM "locked2"')
    assert "(vm.flush_locks) assigned to node hv1" in result.stderr
    assert tc.storage.lock_list(POOL, "locked2_disk0") == []
    # nothing left to flush; --no-wait only says which task started
    result = tc.pvc("vm", "flush-locks", "locked2", "--no-wait")
    assert result.exit_code == 0, result.output
    assert "Task ID: " in result.stdout and "(vm.flush_locks) assigned to node hv1" in \
        result.stdout
    task_id = result.stdout.split("Task ID: ")[1].split()[0]
    body = poll_task(tc.api, task_id, lambda b: b["state"] in FINAL)
    assert body["status"] == ('No RBD locks were held on the volumes of VM "locked2" '
                              f"({POOL}/locked2_disk0).")


def test_a_running_vm_keeps_its_locks(tc: TaskCluster, other_node: Any) -> None:
    vm_with_disks(tc, "running1", "running1_disk0", state="start")
    lock(other_node, "running1_disk0")
    task = flush(tc, "running1")
    body = poll_task(tc.api, task["task_id"], lambda b: b["state"] in FINAL, timeout=30)
    assert body["state"] == "FAILURE"
    assert body["error"] == "InvalidState"
    assert body["status"] == ('VM "running1" is in state "start": its RBD locks can be flushed '
                              "only when it is in state stop, disable, fail, mirror")
    assert [lk["cookie"] for lk in tc.storage.lock_list(POOL, "running1_disk0")] == ["qemu"]
    result = tc.pvc("vm", "flush-locks", "running1")
    assert result.exit_code != 0
    assert "failed: VM \"running1\" is in state \"start\"" in result.stderr
    assert len(tc.storage.lock_list(POOL, "running1_disk0")) == 1


def test_an_unknown_vm_is_404(tc: TaskCluster) -> None:
    for vm in ("nosuchvm", "0b5c3a52-3e0e-4d0a-9c6e-000000000000"):
        response = tc.api.post(f"/api/v1/vm/{vm}/locks")
        assert response.status_code == 404, response.text
        assert "not found" in response.json()["message"]
    assert tc.api.post("/api/v1/vm/bad%20name/locks").status_code == 400
    assert tc.api.post("/api/v1/vm/locked1/locks",
                       headers={"X-Api-Key": "wrong"}).status_code == 401


def test_the_worker_log_is_clean(tc: TaskCluster) -> None:
    assert "Traceback" not in tc.worker.output()
