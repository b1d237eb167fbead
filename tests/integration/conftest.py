"""Integration fixtures: one real ZooKeeper server per test session, a fresh chroot per test."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kazoo.client import KazooClient

from pvc.db.engine import Database
from pvc.devcluster import zookeeper
from pvc.state.store import Store
from tests.integration import cephsupport, pgsupport

if TYPE_CHECKING:
    from pvc.drivers.storage.ceph import CephStorage


@pytest.fixture(scope="session")
def zk_server() -> Iterator[str]:
    if not os.path.exists(zookeeper.JAVA) or not os.path.exists("/usr/share/java/zookeeper.jar"):
        pytest.skip("ZooKeeper is not installed (run through ./pvc-dev test)")
    workdir = Path(tempfile.mkdtemp(prefix="pvc-zk-"))
    pid, port = zookeeper.start_standalone(workdir)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0) if _is_child(pid) else None
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def private_zk() -> Iterator[tuple[int, str]]:
    """A ZooKeeper server of the test's own, for tests that stall it (SIGSTOP: a frozen JVM
    or host) or kill it: (its pid, its address)."""
    if not os.path.exists(zookeeper.JAVA) or not os.path.exists("/usr/share/java/zookeeper.jar"):
        pytest.skip("ZooKeeper is not installed (run through ./pvc-dev test)")
    workdir = Path(tempfile.mkdtemp(prefix="pvc-zk-own-"))
    pid, port = zookeeper.start_standalone(workdir)
    try:
        yield pid, f"127.0.0.1:{port}"
    finally:
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0) if _is_child(pid) else None
        shutil.rmtree(workdir, ignore_errors=True)


def _is_child(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


@pytest.fixture
def zk_hosts(zk_server: str) -> Iterator[str]:
    """A connection string with a fresh chroot: every test sees an empty tree."""
    chroot = f"/test-{uuid.uuid4().hex[:12]}"
    admin = KazooClient(hosts=zk_server)
    admin.start(timeout=10)
    admin.ensure_path(chroot)
    try:
        yield zk_server + chroot
    finally:
        admin.delete(chroot, recursive=True)
        admin.stop()
        admin.close()


@pytest.fixture
def zk(zk_hosts: str) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zk_hosts)
    client.start(timeout=10)
    try:
        yield client
    finally:
        client.stop()
        client.close()


@pytest.fixture
def store(zk: KazooClient) -> Store:
    return Store(zk)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgsupport.PgServer]:
    if not pgsupport.available():
        pytest.skip("PostgreSQL 15 is not installed, or not root (run through ./pvc-dev test)")
    server = pgsupport.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def db(pg_server: pgsupport.PgServer) -> Iterator[Database]:
    """A fresh, empty database of its own for each test (no schema: see `pvc.db.migrate`)."""
    name = f"t{uuid.uuid4().hex[:12]}"
    database = Database(pg_server.new_database(name), retry_for=5)
    try:
        yield database
    finally:
        database.close()
        pg_server.drop_database(name)


@pytest.fixture(scope="session")
def ceph_cluster() -> Iterator[cephsupport.CephTestCluster]:
    """A real one-mon, one-mgr, one-OSD Ceph cluster on loopback for the whole session:
    `.conf_path`, `.keyring_path`, `.new_pool(name)` (a size-1 rbd pool)."""
    if not cephsupport.available():
        pytest.skip("Ceph is not installed (ceph-mon, ceph-mgr, ceph-osd, python3-rados)")
    cluster = cephsupport.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def ceph_storage(ceph_cluster: cephsupport.CephTestCluster) -> Iterator[CephStorage]:
    """Our Ceph driver on the session's test cluster (one per test module)."""
    from pvc.drivers.storage.ceph import CephStorage

    driver = CephStorage(ceph_cluster.conf_path, ceph_cluster.keyring_path, timeout=20)
    yield driver
    driver.close()
