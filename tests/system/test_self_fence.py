"""Self-fencing on the 3-node development cluster.

A node whose cluster link is pulled (`pvc-dev link hvN cluster down`) while two VMs with
RBD disks run on it stops them itself (or is fenced through its BMC) before either starts
anywhere else: every node's libvirt is asked directly, several times a second, and no VM
ever runs on two nodes. Only the cluster link is cut: the node keeps its storage network,
so its QEMUs could keep writing to their RBD images, which is exactly the case
self-fencing exists for (cutting storage too would hide it). Once the link is back the
cluster recovers: every node in run, each VM running exactly once.

Killing one ZooKeeper server is an outage, not isolation: nobody self-fences and the
guests' console counters keep counting.
"""

from __future__ import annotations

import importlib.util
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from pvc.devcluster.node import power
from tests.system.conftest import DevCluster
from tests.system.test_rbd_vms import add_volume, define_rbd_vm
from tests.system.vmhelpers import (
    define,
    info,
    last_counter,
    post,
    wait_booted,
    wait_counter_above,
)

pytestmark = pytest.mark.system

# the cluster fences dead nodes (and restarts their VMs elsewhere) once that exists
HAS_FENCING = importlib.util.find_spec("pvc.node.ha.fencing") is not None


def domains_on(dc: DevCluster, node: str) -> set[str] | None:
    """UUIDs of the domains the node's own libvirt runs (executing: not the paused
    receiving end of a live migration), asked inside the node (its libvirt listens on the
    cluster network, which may be cut); None if powered off."""
    pid = power.init_pid(dc.spec, node)
    if pid is None:
        return None
    res = subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "--",
                          "virsh", "-q", "-c", "qemu:///system", "list", "--uuid",
                          "--state-running"],
                         capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        return None  # powered off meanwhile, or libvirtd gone with it
    return {line.strip() for line in res.stdout.splitlines() if line.strip()}


class CopySampler:
    """Lists every node's running domains in a loop; records any moment in which one of
    the watched VMs ran on two nodes, and where each ran over time."""

    def __init__(self, dc: DevCluster, uuids: list[str]) -> None:
        self.dc = dc
        self.uuids = uuids
        self.samples = 0
        self.doubles: list[dict[str, list[str]]] = []
        self.seen: list[tuple[float, dict[str, list[str]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def snapshot(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {u: [] for u in self.uuids}
        for node in self.dc.spec.node_names:
            for uuid in (domains_on(self.dc, node) or set()) & set(self.uuids):
                found[uuid].append(node)
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.snapshot()
            self.samples += 1
            if not self.seen or self.seen[-1][1] != now:
                self.seen.append((time.monotonic(), now))
            if any(len(nodes) > 1 for nodes in now.values()) and self.confirmed(now):
                self.doubles.append(now)
            self._stop.wait(0.1)

    def confirmed(self, sample: dict[str, list[str]]) -> bool:
        """Whether a VM that `sample` shows on two nodes runs on both when they are asked
        again, in the opposite order. A sample asks the nodes one after another, so a
        live migration that switched over between two of those questions shows the VM
        on its source (asked before) and on its target (asked after); asked again, the
        source no longer runs it. A real second copy still runs on both."""
        for uuid, nodes in sample.items():
            if len(nodes) > 1 and sum(
                    uuid in (domains_on(self.dc, node) or set()) for node in reversed(nodes)) > 1:
                return True
        return False

    def __enter__(self) -> CopySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def node_log(dc: DevCluster, node: str) -> str:
    path = dc.spec.node_dir(node) / "var" / "log" / "pvc" / "pvcnoded.log"
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def node_record(dc: DevCluster, node: str) -> dict[str, str]:
    return {k: str(dc.store.read(f"node.{k}", node=node))
            for k in ("daemon_state", "domain_state")}


@pytest.fixture
def victim(devcluster_3: DevCluster) -> Iterator[str]:
    """A node other than the primary, whose cluster link is always plugged back."""
    node = next(n for n in reversed(devcluster_3.spec.node_names)
                if n != devcluster_3.primary())
    yield node
    if power.init_pid(devcluster_3.spec, node) is not None:
        devcluster_3.dev("link", node, "cluster", "up", check=False)


def test_killing_one_zookeeper_server_self_fences_nobody(devcluster_3: DevCluster) -> None:
    dc = devcluster_3
    node = next(n for n in dc.spec.node_names if n != dc.primary())
    uuid = define(dc, "zkkill", node)
    start = last_counter(dc, "zkkill")
    mark = len(node_log(dc, node))
    dc.dev("service", node, "zookeeper", "kill")  # the server this node's session uses
    try:
        # much longer than suicide_intervals (3 s) and fence_intervals (4 s) together
        time.sleep(15)
        assert uuid in (domains_on(dc, node) or set())
        assert all(uuid not in (domains_on(dc, n) or set()) for n in dc.spec.node_names
                   if n != node)
        wait_counter_above(dc, "zkkill", start + 10, timeout=60)
        assert node_record(dc, node)["daemon_state"] == "run"
        assert "Self-fenc" not in node_log(dc, node)[mark:]
    finally:
        dc.dev("service", node, "zookeeper", "start")
    dc.wait_healthy(120)
    vm = info(dc, "zkkill")
    assert (vm["node"], vm["state"]) == (node, "start")
    post(dc, "/vm/zkkill/state", state="stop", wait="true")


def test_a_node_cut_off_the_cluster_network_never_leaves_two_copies(
        devcluster_3: DevCluster, victim: str) -> None:
    dc = devcluster_3
    names = ["cut1", "cut2"]
    uuids = []
    for name in names:
        add_volume(dc, f"{name}_disk0", "32M")
        uuids.append(define_rbd_vm(dc, name, victim, f"{name}_disk0", marker=name))
    for name in names:
        wait_booted(dc, name, timeout=90)
    mark = len(node_log(dc, victim))

    with CopySampler(dc, uuids) as sampler:
        assert all(s == [victim] for s in sampler.snapshot().values())
        cut_at, cut_wall = time.monotonic(), time.time()
        dc.dev("link", victim, "cluster", "down")
        assert "down" in dc.dev("link", victim, "cluster", "status").stdout

        # stopped on the cut node: by itself (self-fence, ~3-4 s) or by its BMC (fenced)
        dc.wait_for("the cut node's VMs to stop", lambda: not (
            (domains_on(dc, victim) or set()) & set(uuids)), timeout=60, interval=0.2)
        stopped_after = time.monotonic() - cut_at
        fenced = power.init_pid(dc.spec, victim) is None
        print(f"\nVMs stopped on {victim} {stopped_after:.1f} s after the cut "
              f"({'fenced through its BMC' if fenced else 'self-fenced, still powered'})")
        if not fenced:
            # a domain is gone from libvirt a moment before its line is written
            dc.wait_for("the self-fence of each VM in the node's log", lambda: all(
                f"Self-fenced VM {n}" in node_log(dc, victim)[mark:] for n in names),
                timeout=10, interval=0.2)
            log = node_log(dc, victim)[mark:]
            for line in log.splitlines():  # when the node saw what, after the cut
                if any(k in line for k in ("suspended", "Self-fenc", "session lost")):
                    at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    print(f"  {at - cut_wall:5.1f} s: {line[24:140]}")
        if HAS_FENCING:
            # the cluster fences the node and starts both VMs on the survivors
            dc.wait_for("both VMs on survivors", lambda: all(
                len(nodes) == 1 and nodes[0] != victim
                for nodes in sampler.snapshot().values()), timeout=180, interval=1)
        else:
            # nobody else may start them: they stay stopped while the node is cut off
            time.sleep(10)
            assert all(not nodes for nodes in sampler.snapshot().values())

        # plug the cable back (a fenced node is powered on again by its fencer, or here)
        if power.init_pid(dc.spec, victim) is not None:
            dc.dev("link", victim, "cluster", "up")
        else:
            dc.dev("power", victim, "on")
        dc.wait_for(f"{victim} in run", lambda: node_record(dc, victim)["daemon_state"]
                    == "run", timeout=180, interval=1)
        if node_record(dc, victim)["domain_state"] != "ready":
            dc.pvc("node", "ready", victim, "--wait", timeout=300)
        dc.wait_healthy(180)
        # each VM runs again, exactly once, wherever its record says
        for name, uuid in zip(names, uuids, strict=True):
            where = info(dc, name)["node"]
            dc.wait_for(f"{name} running on {where} only", lambda u=uuid, w=where:
                        sampler.snapshot()[u] == [w], timeout=120, interval=1)
        time.sleep(3)  # a few more samples of the settled cluster
    assert sampler.samples > 20
    timeline = [(round(t - cut_at, 1), {u[:8]: n for u, n in seen.items()})
                for t, seen in sampler.seen]
    print(f"{sampler.samples} samples; where the VMs ran (s after the cut):")
    for entry in timeline:
        print(f"  {entry}")
    assert not sampler.doubles, (sampler.doubles[:2], timeline[:40])
    assert stopped_after < 30, stopped_after
    # (not the guests' consoles here: a TCG guest live-migrated by `ready` while still
    # booting may oops, which says nothing about fencing)
    for name in names:
        post(dc, f"/vm/{name}/state", state="stop", wait="true")
