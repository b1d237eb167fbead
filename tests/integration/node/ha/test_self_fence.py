"""Self-fencing against a real three-server ZooKeeper ensemble: when two servers die the
quorum is gone and the node's session with it, but their hosts still answer (refuse), so
this is a control-plane outage and the guard keeps the node's VMs; when the servers come
back the session resumes. (Isolation itself, silent servers, needs network namespaces:
it is in tests/system/test_self_fence.py.)"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from pvc.common import config
from pvc.devcluster import zookeeper
from pvc.drivers.hypervisor.libvirt_driver import DomainFigures
from pvc.node.ha import self_fence
from tests.ports import free_port

pytestmark = pytest.mark.integration

ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


class Ensemble:
    def __init__(self, workdir: Path) -> None:
        peers = {i + 1: (a, free_port(a), free_port(a)) for i, a in enumerate(ADDRESSES)}
        self.servers = [zookeeper.ZkServer(i + 1, workdir / f"zk{i + 1}", a, free_port(a), peers)
                        for i, a in enumerate(ADDRESSES)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, index: int) -> None:
        server = self.servers[index]
        server.write_config()
        with open(server.data_dir / "stdout.log", "ab") as log:
            self.procs[index] = subprocess.Popen(
                server.command(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def kill(self, index: int) -> None:
        proc = self.procs.pop(index)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    @property
    def hosts(self) -> list[tuple[str, int]]:
        return [(s.client_address, s.client_port) for s in self.servers]


@pytest.fixture
def ensemble() -> Iterator[Ensemble]:
    if not os.path.exists(zookeeper.JAVA) or not os.path.exists("/usr/share/java/zookeeper.jar"):
        pytest.skip("ZooKeeper is not installed (run through ./pvc-dev test)")
    workdir = Path(tempfile.mkdtemp(prefix="pvc-zk-sf-"))
    ens = Ensemble(workdir)
    try:
        for i in range(3):
            ens.start(i)
        for address, port in ens.hosts:
            zookeeper.wait_serving(address, port, timeout=90)
        yield ens
    finally:
        for i in list(ens.procs):
            ens.kill(i)
        shutil.rmtree(workdir, ignore_errors=True)


class Host:
    def __init__(self) -> None:
        self.destroyed: list[str] = []

    def domains(self) -> list[DomainFigures]:
        return [DomainFigures("u1", "vm1", 128, 1, True)]

    def destroy(self, uuid: str) -> None:
        self.destroyed.append(uuid)


def test_lost_quorum_with_answering_hosts_is_an_outage(ensemble: Ensemble) -> None:
    zk = KazooClient(hosts=",".join(f"{a}:{p}" for a, p in ensemble.hosts), timeout=3,
                     randomize_hosts=False,
                     connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0})
    zk.start(timeout=30)
    host = Host()
    cfg = dataclasses.replace(config.load(config.SAMPLE_FILE), keepalive_interval=0.5)
    last_ok = [time.monotonic()]
    guard = self_fence.SelfFence(
        "hv9", cfg, host, lambda: bool(zk.connected), lambda: last_ok[0],
        prober=lambda: self_fence.probe_all(ensemble.hosts, 0.5))
    zk.add_listener(guard.on_session)
    guard.start()
    try:
        ensemble.kill(0)
        ensemble.kill(1)
        deadline = time.monotonic() + 30
        while zk.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not zk.connected  # the survivor lost its quorum: no session anywhere
        time.sleep(6 * cfg.suicide_intervals * cfg.keepalive_interval)
        verdict = guard.check()
        assert not verdict.fence and "outage" in verdict.reason, verdict
        assert host.destroyed == []
        assert self_fence.probe_all(ensemble.hosts, 0.5) == [
            self_fence.Reach.REFUSED, self_fence.Reach.REFUSED, self_fence.Reach.OPEN]
        # the servers return: the session resumes, nothing was destroyed
        ensemble.start(0)
        ensemble.start(1)
        deadline = time.monotonic() + 90
        while not zk.connected and time.monotonic() < deadline:
            time.sleep(0.2)
        assert zk.connected
        assert host.destroyed == []
    finally:
        guard.stop()
        zk.stop()
        zk.close()
