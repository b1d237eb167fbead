"""Helpers of the Ceph task tests (no tests here): a module-wide ZooKeeper chroot holding
the standard cluster, a real redis-server, a real `pvcworkerd` for hv1 that loads a
pvc.conf pointing at the test Ceph and is told the chroot, and the API on top."""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from kazoo.client import KazooClient

from pvc.api.app import create_app
from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.drivers.storage.ceph import CephStorage
from pvc.state.store import Store
from tests.integration.api.support import HEADERS, raw_config, standard_cluster
from tests.integration.cephsupport import CephTestCluster
from tests.integration.tasks import support as tasks_support
from tests.integration.tasks.support import (
    RedisServer,
    Worker,
    start_redis,
)

NODE = "hv1"  # the primary of the standard cluster


@dataclass
class TaskCluster:
    store: Store
    redis: RedisServer
    worker: Worker
    api: TestClient
    storage: CephStorage
    ceph: CephTestCluster
    workdir: Path
    new_worker: Callable[[], Worker]  # another pvcworkerd for hv1, as the first was started

    def pvc(self, *args: str) -> Result:
        """The `pvc` CLI against this API (a stored connection "t")."""
        conns = self.workdir / "pvc.json"
        if not conns.exists():
            conns.write_text(json.dumps({"t": {
                "host": "testserver", "port": 80, "scheme": "http",
                "api_key": HEADERS["X-Api-Key"]}}))
        state = CliState(store=conns, transport=self.api._transport)
        return CliRunner().invoke(cli, ["-c", "t", *args], obj=state)


def write_config(workdir: Path, redis_port: int, ceph: CephTestCluster) -> Path:
    raw = raw_config(
        database={"keydb": {"hostname": "127.0.0.1", "port": redis_port}},
        subsystem={"enable_prometheus": True, "enable_storage": True},
        ceph={"ceph_config_file": str(ceph.conf_path),
              "ceph_keyring_file": str(ceph.keyring_path)},
    )
    path = workdir / "pvc.conf"
    path.write_text(yaml.safe_dump(raw))
    return path


def start_worker(redis_url: str, config: Path, zk_hosts: str, workdir: Path,
                 timeout: float = 30.0) -> Worker:
    """`pvcworkerd --node hv1` with the real task modules, once it answers a ping."""
    return tasks_support.start_worker(
        redis_url, NODE, workdir, timeout=timeout,
        args=["--config", str(config), "--redis-url", redis_url, "--zookeeper", zk_hosts])


@contextlib.contextmanager
def task_cluster(zk_server: str, ceph: CephTestCluster, workdir: Path) -> Iterator[TaskCluster]:
    chroot = f"/tasks-{uuid.uuid4().hex[:12]}"
    admin = KazooClient(hosts=zk_server)
    admin.start(timeout=10)
    admin.ensure_path(chroot)
    zk = KazooClient(hosts=zk_server + chroot)
    zk.start(timeout=10)
    redis = start_redis(workdir)
    storage = CephStorage(ceph.conf_path, ceph.keyring_path, timeout=30)
    worker: Worker | None = None
    try:
        store = Store(zk)
        standard_cluster(store)
        config = write_config(workdir, redis.port, ceph)
        new_worker = functools.partial(start_worker, redis.url, config, zk_server + chroot,
                                       workdir)
        worker = new_worker()
        from pvc.common import config as pvcconfig

        app = create_app(pvcconfig.load(config), store)
        api = TestClient(app, headers=HEADERS, raise_server_exceptions=False)
        cluster = TaskCluster(store, redis, worker, api, storage, ceph, workdir, new_worker)
        yield cluster
        worker = cluster.worker  # a test may have replaced it
    finally:
        if worker is not None:
            worker.stop()
        storage.close()
        redis.stop()
        zk.stop()
        zk.close()
        admin.delete(chroot, recursive=True)
        admin.stop()
        admin.close()
