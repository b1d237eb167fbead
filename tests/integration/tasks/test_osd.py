"""OSD add and remove end to end: the API, a real redis-server, a real `pvcworkerd` for
hv1 (direct service control) and a real Ceph cluster of this module's own (one mon, one
mgr, osd.0), which these tests grow by an OSD on a sparse file and shrink again; the
session's `ceph_cluster` is left alone."""

from __future__ import annotations

import functools
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from kazoo.client import KazooClient

from pvc.api.app import create_app
from pvc.common import config as pvcconfig
from pvc.node.services import DirectServices, ceph_commands
from pvc.state.store import Store
from pvc.tasks.app import make_app
from pvc.tasks.storage.osd.device import BLUESTORE_MAGIC
from pvc.tasks.submit import submit
from tests.integration import cephsupport
from tests.integration.api.support import HEADERS, raw_config, standard_cluster
from tests.integration.tasks.ceph_support import start_worker
from tests.integration.tasks.osd_rig import Rig
from tests.integration.tasks.support import (
    RedisServer,
    Worker,
    poll_task,
    start_redis,
)

pytestmark = pytest.mark.integration

NODE = "hv1"
OSD_URL = "/api/v1/storage/ceph/osd"
# The size in TiB, as for osd.0: with weights far apart, CRUSH often fails to place a
# one-replica PG elsewhere once the heavier host's only OSD is out (it retries the same host).
WEIGHT = 0.002


@pytest.fixture(scope="module")
def rig(zk_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    if not cephsupport.available():
        pytest.skip("Ceph is not installed (ceph-mon, ceph-mgr, ceph-osd, python3-rados)")
    workdir = tmp_path_factory.mktemp("osd")
    ceph = cephsupport.start()
    chroot = f"/osd-{uuid.uuid4().hex[:12]}"
    admin = KazooClient(hosts=zk_server)
    admin.start(timeout=10)
    admin.ensure_path(chroot)
    zk = KazooClient(hosts=zk_server + chroot)
    zk.start(timeout=10)
    redis: RedisServer | None = None
    worker: Worker | None = None
    run_dir = workdir / "run"
    services = DirectServices(run_dir / "services", ceph_commands(ceph.conf_path))
    try:
        store = Store(zk)
        standard_cluster(store)
        redis = start_redis(workdir)
        raw = raw_config(
            database={"keydb": {"hostname": "127.0.0.1", "port": redis.port}},
            subsystem={"enable_storage": True},
            ceph={"ceph_config_file": str(ceph.conf_path),
                  "ceph_keyring_file": str(ceph.keyring_path), "service_control": "direct"},
            path={"dynamic_directory": str(run_dir)},
        )
        config = workdir / "pvc.conf"
        config.write_text(yaml.safe_dump(raw))
        new_worker = functools.partial(start_worker, redis.url, config, zk_server + chroot,
                                       workdir)
        worker = new_worker()
        api = TestClient(create_app(pvcconfig.load(config), store), headers=HEADERS,
                         raise_server_exceptions=False)
        rig = Rig(ceph, store, api, worker, redis, services, workdir, new_worker)
        yield rig
        worker = rig.worker  # the tests may have replaced it
    finally:
        cleanups: list[Callable[[], object]] = []
        if worker is not None:
            cleanups.append(worker.crash)  # a task may still run: no warm shutdown
        # the OSD daemons the worker started, by the pids it recorded
        cleanups += [functools.partial(services.stop, p.name.removesuffix(".pid"), timeout=5)
                     for p in (run_dir / "services").glob("*.pid")]
        cleanups.append(ceph.stop)
        if redis is not None:
            cleanups.append(redis.stop)
        cleanups += [zk.stop, zk.close, functools.partial(admin.delete, chroot, recursive=True),
                     admin.stop, admin.close]
        errors = []
        for cleanup in cleanups:
            try:
                cleanup()
            except Exception as exc:  # every step is tried; the first error is raised
                errors.append(exc)
        if errors:
            raise errors[0]


def start_add(rig: Rig, **params: Any) -> dict[str, Any]:
    response = rig.api.post(OSD_URL, params={"node": NODE, "weight": WEIGHT, **params})
    assert response.status_code == 202, response.text
    task: dict[str, Any] = response.json()
    assert (task["task_name"], task["run_on"]) == ("osd.add", NODE)
    return task


def test_add_an_osd_then_remove_it(rig: Rig) -> None:
    rig.ceph.new_pool("osdtest")  # PGs that must move off the new OSD before it goes
    device = rig.device("disk1.img")
    task = start_add(rig, device=str(device))
    body, seen = rig.wait_task(task["task_id"])
    assert body["state"] == "SUCCESS", (body, rig.worker.output()[-3000:])
    assert body["status"] == f"Added OSD 1 on {device} of node {NODE}"
    assert (body["current"], body["total"]) == (8, 8)
    assert "Waiting for OSD 1 to come up" in seen

    # Ceph: up and in, under host hv1 with its weight
    with rig.admin() as admin:
        assert admin.osd_states()[1] == (True, True)
        tree = admin.command("osd tree")["nodes"]
        host = next(n for n in tree if n["type"] == "host" and n["name"] == NODE)
        assert host["children"] == [1]
        assert next(n for n in tree if n["id"] == 1)["crush_weight"] == pytest.approx(WEIGHT, abs=1e-4)
    # the daemon runs from its data directory, whose block is the device
    pid = rig.services.pid("ceph-osd@1")
    assert pid is not None
    assert b"ceph-osd" in Path(f"/proc/{pid}/cmdline").read_bytes()
    data_dir = rig.ceph.workdir / "osd" / "ceph-1"
    assert os.readlink(data_dir / "block") == str(device)
    assert device.read_bytes()[:len(BLUESTORE_MAGIC)] == BLUESTORE_MAGIC
    # the record, through the API
    response = rig.api.get(f"{OSD_URL}/1")
    assert response.status_code == 200, response.text
    (osd,) = response.json()
    assert (osd["id"], osd["node"], osd["device"], osd["is_split"]) == ("1", NODE, str(device),
                                                                        False)
    assert osd["stats"]["up"] == 1 and osd["stats"]["in"] == 1
    assert isinstance(osd["stats"]["kb"], int) and isinstance(osd["stats"]["used"], str)
    # the same device again is refused at once
    again = rig.api.post(OSD_URL, params={"node": NODE, "device": str(device), "weight": 1})
    assert again.status_code == 400 and "already OSD 1" in again.json()["message"]
    # no confirmation: refused, nothing started
    response = rig.api.delete(f"{OSD_URL}/1")
    assert response.status_code == 400
    assert "yes-i-really-mean-it" in response.json()["message"]
    assert rig.services.is_active("ceph-osd@1")

    # remove it with the CLI (which sends force=False and the confirmation)
    result = rig.pvc("storage", "osd", "remove", "1", "--yes")
    assert result.exit_code == 0, result.output
    found = re.search(r"Task ID: ([0-9a-f]{8}) \(osd.remove\) assigned to node hv1",
                      result.output)
    assert found, result.output
    body, seen = rig.wait_task(found.group(1))
    assert body["state"] == "SUCCESS", (body, rig.worker.output()[-3000:])
    assert body["status"] == "Removed OSD 1"
    assert (body["current"], body["total"]) == (7, 7)
    assert any(s.startswith("Waiting until OSD 1 is safe to destroy") for s in seen)
    assert rig.osd_ids() == {0}
    with rig.admin() as admin:
        tree = admin.command("osd tree")["nodes"]
        assert all(n["id"] != 1 for n in tree)
        keys = [e["entity"] for e in admin.command("auth ls")["auth_dump"]]
        assert "osd.1" not in keys
    assert not rig.services.is_active("ceph-osd@1")
    assert not Path(f"/proc/{pid}").exists() or b"ceph-osd" not in Path(
        f"/proc/{pid}/cmdline").read_bytes()
    assert not data_dir.exists()
    assert device.read_bytes()[:4096] == bytes(4096)  # label wiped: reusable
    assert rig.records() == []
    assert rig.api.get(f"{OSD_URL}/1").status_code == 404


@pytest.mark.parametrize("params, status, words", [
    ({"node": "hv9", "device": "/tmp/x.img", "weight": 1}, 404, "Node hv9 not found"),
    ({"node": "Bad Node", "device": "/tmp/x.img", "weight": 1}, 400, "Invalid node name"),
    ({"node": NODE, "device": "disk.img", "weight": 1}, 400, "Invalid device path"),
    ({"node": NODE, "device": "/dev/sdb;reboot", "weight": 1}, 400, "Invalid device path"),
    ({"node": NODE, "device": "/dev/../etc/passwd", "weight": 1}, 400, "Invalid device path"),
    ({"node": NODE, "device": "/dev/$(id)", "weight": 1}, 400, "Invalid device path"),
    ({"node": NODE, "device": "detect:INTEL:800GB:0", "weight": 1}, 400, "detect:"),
    ({"node": NODE, "device": "/dev/sdb", "weight": -1}, 400, "Invalid OSD weight"),
    ({"node": NODE, "device": "/dev/sdb", "weight": "nan"}, 400, "Invalid OSD weight"),
    ({"node": NODE, "device": "/dev/sdb", "weight": 1, "osd_count": 2}, 400, "Split OSDs"),
    ({"node": NODE, "device": "/dev/sdb", "weight": 1, "ext_db_ratio": 0.05}, 400,
     "External OSD database"),
    ({"node": NODE, "device": "/dev/sdb", "weight": 1, "ext_db_size": "20G"}, 400,
     "External OSD database"),
    ({"node": NODE, "device": "/dev/sdb"}, 400, "weight"),
])
def test_bad_add_requests_are_refused_at_once(rig: Rig, params: dict[str, Any], status: int,
                                              words: str) -> None:
    submitted = rig.submitted()
    response = rig.api.post(OSD_URL, params=params)
    assert response.status_code == status, response.text
    assert words in response.json()["message"]
    assert rig.submitted() == submitted


@pytest.mark.parametrize("osdid, params, status, words", [
    ("42", {"yes-i-really-mean-it": "yes"}, 404, "OSD 42 not found"),
    ("abc", {"yes-i-really-mean-it": "yes"}, 400, "Invalid OSD id"),
    ("0", {"yes-i-really-mean-it": "no"}, 400, "yes-i-really-mean-it=yes"),
])
def test_bad_remove_requests_are_refused_at_once(rig: Rig, osdid: str, params: dict[str, str],
                                                 status: int, words: str) -> None:
    rig.set_record("0", {"node": NODE, "device": "/dev/sdz"})
    submitted = rig.submitted()
    try:
        response = rig.api.delete(f"{OSD_URL}/{osdid}", params=params)
        assert response.status_code == status, response.text
        assert words in response.json()["message"]
        assert rig.submitted() == submitted
        assert rig.osd_ids() == {0}
    finally:
        rig.set_record("0", None)


def failed_add(rig: Rig, device: str) -> str:
    before = (rig.osd_ids(), rig.records(), rig.data_dirs())
    body, _ = rig.wait_task(start_add(rig, device=device)["task_id"])
    assert body["state"] == "FAILURE", body
    assert (rig.osd_ids(), rig.records(), rig.data_dirs()) == before
    status: str = body["status"]
    return status


def test_unfit_devices_fail_the_task_and_change_nothing(rig: Rig) -> None:
    missing = rig.workdir / "missing.img"
    assert failed_add(rig, str(missing)) == f"Device {missing} does not exist on node {NODE}"
    small = rig.device("small.img", 64 * 1024**2)
    assert "too small" in failed_add(rig, str(small))
    used = rig.device("used.img")
    with open(used, "r+b") as f:
        f.write(BLUESTORE_MAGIC)
    assert "already holds a Ceph OSD" in failed_add(rig, str(used))
    assert "neither a block device nor a file" in failed_add(rig, str(rig.workdir))


def test_a_failure_after_the_id_was_allocated_is_undone(rig: Rig) -> None:
    """The next OSD's data directory is in the way: the id is purged again, and the stray
    directory (not the task's) stays."""
    next_id = min(set(range(len(rig.osd_ids()) + 1)) - rig.osd_ids())
    stray = rig.ceph.workdir / "osd" / f"ceph-{next_id}"
    stray.mkdir()
    (stray / "something").write_text("not ours")
    try:
        device = rig.device("disk2.img")
        body, _ = rig.wait_task(start_add(rig, device=str(device))["task_id"])
        assert body["state"] == "FAILURE", body
        assert "is not empty" in body["status"]
        assert rig.osd_ids() == {0}
        with rig.admin() as admin:
            keys = [e["entity"] for e in admin.command("auth ls")["auth_dump"]]
        assert f"osd.{next_id}" not in keys
        assert (stray / "something").read_text() == "not ours"
        assert rig.records() == []
        assert device.read_bytes()[:4096] == bytes(4096)
    finally:
        (stray / "something").unlink()
        stray.rmdir()


def test_removing_an_osd_ceph_does_not_have(rig: Rig) -> None:
    """Only a record: refused without force (the record stays), removed with it."""
    rig.set_record("7", {"node": NODE, "device": "/dev/gone"})
    url = f"{OSD_URL}/7"
    response = rig.api.delete(url, params={"yes-i-really-mean-it": "yes"})
    assert response.status_code == 202 and response.json()["run_on"] == NODE
    body, _ = rig.wait_task(response.json()["task_id"])
    assert body["state"] == "FAILURE" and "does not exist in the Ceph cluster" in body["status"]
    assert rig.records() == ["7"]
    response = rig.api.delete(url, params={"yes-i-really-mean-it": "yes", "force": "true"})
    assert response.status_code == 202
    body, _ = rig.wait_task(response.json()["task_id"])
    assert body["state"] == "SUCCESS", body
    assert rig.records() == [] and rig.osd_ids() == {0}


def test_an_osd_of_another_node_is_refused_by_this_worker(rig: Rig) -> None:
    """The API routes removal to the OSD's node; a worker refuses an OSD of another."""
    rig.set_record("0", {"node": "hv2", "device": "/dev/sdb"})
    try:
        app = make_app(redis_url=rig.redis.url)
        try:
            task = submit(app, "osd.remove", ["0"], {"force": True}, run_on=NODE)
        finally:
            app.close()
        body, _ = rig.wait_task(task["task_id"])
        assert body["state"] == "FAILURE"
        assert body["status"] == "OSD 0 is on node hv2, not hv1"
        with rig.admin() as admin:
            assert admin.osd_states()[0] == (True, True)
        assert rig.records() == ["0"]
    finally:
        rig.set_record("0", None)


def test_force_removes_an_osd_whose_device_is_gone(rig: Rig) -> None:
    """Without force a vanished device is refused before anything changes; with force the
    OSD goes at once (no wait for safe-to-destroy)."""
    device = rig.device("disk3.img")
    result = rig.pvc("storage", "osd", "add", NODE, str(device), "--weight", str(WEIGHT), "--yes")
    assert result.exit_code == 0, result.output
    found = re.search(r"Task ID: ([0-9a-f]{8}) \(osd.add\) assigned to node hv1", result.output)
    assert found, result.output
    body, _ = rig.wait_task(found.group(1))
    assert body["state"] == "SUCCESS", (body, rig.worker.output()[-3000:])
    osd = next(iter(rig.osd_ids() - {0}))
    device.unlink()  # the daemon keeps its open file; the path is gone, as after a rebuild
    url = f"{OSD_URL}/{osd}"
    response = rig.api.delete(url, params={"yes-i-really-mean-it": "yes"})
    assert response.status_code == 202
    body, _ = rig.wait_task(response.json()["task_id"])
    assert body["state"] == "FAILURE" and f"The device {device} of OSD {osd} is gone" in (
        body["status"])
    with rig.admin() as admin:
        assert admin.osd_states()[osd] == (True, True)
    assert rig.records() == [str(osd)] and rig.services.is_active(f"ceph-osd@{osd}")

    response = rig.api.delete(url, params={"yes-i-really-mean-it": "yes", "force": "True"})
    body, seen = rig.wait_task(response.json()["task_id"])
    assert body["state"] == "SUCCESS", (body, rig.worker.output()[-3000:])
    assert not any("safe to destroy:" in s for s in seen)
    assert rig.osd_ids() == {0} and rig.records() == []
    assert not rig.services.is_active(f"ceph-osd@{osd}")
    assert not (rig.ceph.workdir / "osd" / f"ceph-{osd}").exists()


def test_an_add_cut_short_by_a_worker_crash_reaches_the_same_end(rig: Rig) -> None:
    """The worker and its pool die once the new OSD has its id, key, BlueStore and a
    running daemon (as in a node crash): the task, delivered again to the next worker,
    undoes those leftovers and adds the OSD once, with no stray id, key, directory,
    daemon or marker."""
    device = rig.device("disk4.img")
    with rig.admin() as admin:
        admin.command("osd set", key="noup")  # the new OSD cannot come up: the task waits
    try:
        task = start_add(rig, device=str(device))
        try:
            body = poll_task(rig.api, task["task_id"], lambda b: b["state"] != "RUNNING" or (
                b.get("current", 0) >= 6), timeout=120)
        finally:
            rig.worker.crash()
    finally:
        with rig.admin() as admin:
            admin.command("osd unset", key="noup")
    assert body["state"] == "RUNNING" and body["status"].startswith("Waiting for OSD"), body
    marker = rig.store.read("node.osd_add", node=NODE)
    assert marker["device"] == str(device), marker
    (leftover,) = rig.osd_ids() - {0}
    assert device.read_bytes()[:len(BLUESTORE_MAGIC)] == BLUESTORE_MAGIC
    assert rig.services.is_active(f"ceph-osd@{leftover}")  # its daemon outlived the worker

    rig.worker = rig.new_worker()
    body, _ = rig.wait_task(task["task_id"], timeout=240)
    assert body["state"] == "SUCCESS", (body, rig.worker.output()[-3000:])
    assert "runs again: an earlier run was cut short" in rig.worker.output()
    (osd,) = rig.osd_ids() - {0}
    assert body["status"] == f"Added OSD {osd} on {device} of node {NODE}"
    record = rig.store.read("osd", osd=str(osd))
    assert record["device"] == str(device) and record["uuid"] != marker["uuid"]
    assert rig.store.read("node.osd_add", node=NODE) == {}
    with rig.admin() as admin:
        assert admin.osd_states()[osd] == (True, True)
        keys = {e["entity"] for e in admin.command("auth ls")["auth_dump"]}
        tree = admin.command("osd tree")["nodes"]
    assert {k for k in keys if k.startswith("osd.")} == {"osd.0", f"osd.{osd}"}
    assert next(n for n in tree if n["name"] == NODE)["children"] == [osd]
    assert rig.data_dirs() == sorted(["ceph-0", f"ceph-{osd}"])
    assert rig.records() == [str(osd)]
    # one daemon of that id: the dead run's was stopped before the new one started
    running = [p for p in Path("/proc").iterdir() if p.name.isdigit()
               and _osd_daemon_of(p, osd, rig.ceph.conf_path)]
    assert len(running) == 1, (leftover, running)

    response = rig.api.delete(f"{OSD_URL}/{osd}",
                              params={"yes-i-really-mean-it": "yes", "force": "True"})
    body, _ = rig.wait_task(response.json()["task_id"])
    assert body["state"] == "SUCCESS", (body, rig.worker.output()[-3000:])
    assert rig.osd_ids() == {0} and rig.records() == []


def _osd_daemon_of(proc: Path, osd: int, conf: Path) -> bool:
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (bool(argv) and argv[0].endswith(b"ceph-osd") and str(conf).encode() in argv
            and b"--id" in argv and argv[argv.index(b"--id") + 1] == str(osd).encode())


def test_a_remove_run_again_after_its_worker_died_finishes_the_removal(rig: Rig) -> None:
    """An earlier run of the remove got as far as the purge (the OSD is gone from Ceph,
    its record, directory and label are still there) when its worker died: the run
    that follows finishes the removal instead of failing on the missing OSD."""
    device = rig.device("disk5.img")
    body, _ = rig.wait_task(start_add(rig, device=str(device))["task_id"])
    assert body["state"] == "SUCCESS", (body, rig.worker.output()[-3000:])
    (osd,) = rig.osd_ids() - {0}
    rig.worker.stop()
    try:
        response = rig.api.delete(f"{OSD_URL}/{osd}", params={"yes-i-really-mean-it": "yes"})
        assert response.status_code == 202, response.text
        task_id = response.json()["task_id"]
        # what the dead run did: the daemon stopped, the OSD purged, one run counted
        rig.services.stop(f"ceph-osd@{osd}")
        with rig.admin() as admin:
            admin.command("osd down", ids=[str(osd)])
            admin.command("osd purge-actual", id=osd, yes_i_really_mean_it=True)
        key = f"pvc:task:{task_id}"
        client = rig.redis.client()
        client.set(key, json.dumps({**json.loads(client.get(key) or "{}"), "runs": 1}), keepttl=True)
        assert rig.records() == [str(osd)]
    finally:
        rig.worker = rig.new_worker()
    body, _ = rig.wait_task(task_id)
    assert body["state"] == "SUCCESS", (body, rig.worker.output()[-3000:])
    assert body["status"] == f"Removed OSD {osd}"
    assert rig.osd_ids() == {0} and rig.records() == []
    assert not (rig.ceph.workdir / "osd" / f"ceph-{osd}").exists()
    assert device.read_bytes()[:4096] == bytes(4096)
