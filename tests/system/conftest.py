"""System-test fixtures: a real development cluster per test module (namespaced nodes,
ZooKeeper ensemble, libvirtd per node, BMCs), driven through the API, the CLI and pvc-dev.

These tests need root and the Debian packages that `./pvc-dev` installs; they run from
`sudo ./pvc-dev test`. The cluster is named and addressed apart from a developer's `dev`
cluster, so both can exist at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pvc.client.api import ApiClient
from pvc.client.connections import Connection, add_connection
from pvc.devcluster import cluster as devcluster
from pvc.devcluster import network as netsetup
from pvc.devcluster.layout import NETWORKS, ClusterSpec
from pvc.state.store import Store

REPO = Path(__file__).resolve().parents[2]
SHUTDOWN_TIMEOUT = 10  # the test cluster's vm_shutdown_timeout, seconds
VENV_BIN = REPO / ".venv" / "bin"


def _libvirt_event_loop() -> None:
    """Run libvirt's default event loop in a daemon thread: with it, every remote
    connection the tests open sends keepalives, so one whose libvirtd is gone (a node
    powered off, a cluster taken down) fails within seconds instead of hanging for
    ever (e.g. when its last object is freed at interpreter exit)."""
    import libvirt

    libvirt.virEventRegisterDefaultImpl()

    def run() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=run, name="libvirt-events", daemon=True).start()


_libvirt_event_loop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/system" in str(item.fspath):
            item.add_marker(pytest.mark.system)


@dataclass
class DevCluster:
    spec: ClusterSpec
    client_dir: Path
    _store: Store | None = field(default=None, repr=False)

    # -- ways in --------------------------------------------------------
    def api(self, key: str | None = "default", timeout: float = 10) -> ApiClient:
        api_key = self.spec.api_key if key == "default" else key
        conn = Connection(self.spec.name, str(self.spec.floating_address("upstream")),
                          7370, "http", api_key)
        return ApiClient(conn, timeout=timeout)

    def pvc(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PVC_CLIENT_DIR": str(self.client_dir),
               "PVC_CONNECTION": self.spec.name}
        res = subprocess.run([str(VENV_BIN / "pvc"), *args], capture_output=True, text=True,
                             env=env, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"pvc {' '.join(args)} failed ({res.returncode}): "
                                 f"{res.stderr}{res.stdout}")
        return res

    def dev(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([str(VENV_BIN / "pvc-dev"), *args, "--name", self.spec.name]
                             if args[0] in ("status", "down") else
                             [str(VENV_BIN / "pvc-dev"), args[0], "--name", self.spec.name,
                              *args[1:]],
                             capture_output=True, text=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"pvc-dev {' '.join(args)} failed: {res.stderr}{res.stdout}")
        return res

    @property
    def store(self) -> Store:
        if self._store is None or not self._store.zk.connected:
            self._store = devcluster.zk_store(self.spec)
        return self._store

    # -- observations -------------------------------------------------------
    def floating(self) -> set[str]:
        return {str(self.spec.floating_address(n)) for n in NETWORKS}

    def holders(self) -> dict[str, set[str]]:
        """Which node's namespace holds which floating address right now (ip addr)."""
        out: dict[str, set[str]] = {}
        for node in self.spec.node_names:
            data = json.loads(netsetup.ip("-n", self.spec.netns(node), "-j", "-4", "addr",
                                          "show", check=False) or "[]")
            held = {a["local"] for link in data for a in link.get("addr_info", [])}
            out[node] = held & self.floating()
        return out

    def primary(self) -> str:
        nodes = self.api().node_list()
        primaries = [n["name"] for n in nodes if n["coordinator_state"] == "primary"]
        assert len(primaries) == 1, nodes
        return primaries[0]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 60,
                 interval: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
                if last:
                    return last
            except Exception as exc:  # the cluster is changing under us: try again
                last = exc
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}: last {last!r}")

    def wait_healthy(self, timeout: float = 90) -> None:
        devcluster.wait_ready(self.spec, timeout)


class HolderSampler:
    """Samples every node's floating addresses in a loop and records any moment in which
    two nodes held the same address."""

    def __init__(self, cluster: DevCluster) -> None:
        self.cluster = cluster
        self.samples = 0
        self.double: list[dict[str, set[str]]] = []
        self.seen_holders: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            holders = self.cluster.holders()
            self.samples += 1
            for addr in self.cluster.floating():
                owners = [n for n, held in holders.items() if addr in held]
                self.seen_holders.update(owners)
                if len(owners) > 1:
                    self.double.append(holders)

    def __enter__(self) -> HolderSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def keep_logs(spec: ClusterSpec, dest: Path) -> None:
    """Copy every node's service logs (pvcnoded, ceph, ...) out of the cluster before it
    is removed, for a failure's post-mortem (pytest keeps its last few temp dirs)."""
    for node in spec.node_names:
        for log in [*(spec.node_dir(node) / "var/log/pvc").glob("*.log"),
                    spec.node_dir(node) / "nodeinit.log"]:
            with contextlib.suppress(OSError):
                (dest / node).mkdir(exist_ok=True)
                shutil.copy(log, dest / node / log.name)


@pytest.fixture(scope="module")
def devcluster_3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    if os.geteuid() != 0:
        pytest.skip("system tests need root: run `sudo ./pvc-dev test`")
    # PVC_TEST_CLUSTER="name,prefix,subnet" gives parallel test runs clusters of their own
    name, prefix, subnet = os.environ.get("PVC_TEST_CLUSTER", "pvctest,pt,78").split(",")
    spec = ClusterSpec(name=name, prefix=prefix, subnet=int(subnet), nodes=3, coordinators=3,
                       vm_shutdown_timeout=SHUTDOWN_TIMEOUT)
    try:
        spec = devcluster.up(spec, timeout=240)
    except Exception:
        devcluster.down(spec)
        raise
    client_dir = tmp_path_factory.mktemp("pvc-client")
    add_connection(spec.name, str(spec.floating_address("upstream")), port=7370,
                   api_key=spec.api_key, path=client_dir / "pvc.json")
    dc = DevCluster(spec, client_dir)
    try:
        yield dc
    finally:
        if dc._store is not None:
            dc._store.zk.stop()
            dc._store.zk.close()
        keep_logs(spec, tmp_path_factory.mktemp("node-logs"))
        left = devcluster.down(spec)
        assert not left, f"pvc-dev down left {left}"
