"""Bring a development cluster up and down, and report on it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pvc.common.errors import BackendError, NotFound
from pvc.devcluster import configs, demo, procs, router, zookeeper
from pvc.devcluster import network as netsetup
from pvc.devcluster.ceph import cluster as cephdev
from pvc.devcluster.layout import ZK_CLIENT_PORT, ClusterSpec, load_spec
from pvc.devcluster.node import bmc, power
from pvc.state import connect
from pvc.state.store import Store

Say = Callable[[str], None]


def _quiet(msg: str) -> None:
    pass


# -- BMCs ---------------------------------------------------------------------

def bmc_spec(spec: ClusterSpec, node: str) -> bmc.BmcSpec:
    return bmc.BmcSpec(
        node=node,
        address=str(spec.bmc_address(node)),
        port=623,
        username=spec.ipmi_username,
        password=spec.ipmi_password,
        workdir=spec.bmc_dir(node),
        power_command=[sys.executable, "-m", "pvc.devcluster.node.power", str(spec.state_dir), node],
        pid_file=str(spec.init_pid_file(node)),
        pid_match=f"{power.NSINIT} {spec.state_dir} {node} ",
    )


def bmc_pid(spec: ClusterSpec, node: str) -> int | None:
    try:
        pid = int(spec.bmc_pid_file(node).read_text())
    except (OSError, ValueError):
        return None
    cmd = " ".join(procs.cmdline(pid))
    return pid if "ipmi_sim" in cmd and str(spec.bmc_dir(node)) in cmd else None


def start_bmc(spec: ClusterSpec, node: str) -> int:
    pid = bmc_pid(spec, node)
    if pid:
        return pid
    b = bmc_spec(spec, node)
    b.workdir.mkdir(parents=True, exist_ok=True)
    bmc.write_config(b)
    pid = bmc.start(b)
    spec.bmc_pid_file(node).write_text(str(pid))
    return pid


# -- status -------------------------------------------------------------------

def is_running(spec: ClusterSpec) -> bool:
    """Every node powered on and every BMC answering."""
    return all(power.init_pid(spec, n) and bmc_pid(spec, n) for n in spec.node_names)


def zk_store(spec: ClusterSpec, timeout: float = 5) -> Store:
    zk = connect.client(spec.zookeeper_hosts(), 5)
    zk.start(timeout=timeout)
    return Store(zk)


def close(store: Store) -> None:
    store.zk.stop()
    store.zk.close()


def node_states(spec: ClusterSpec, store: Store | None = None) -> dict[str, dict[str, Any]]:
    """Node records as the cluster sees them ({} if ZooKeeper cannot be asked). Loops
    should pass their own `store` rather than connect on every call."""
    own = store is None
    try:
        if store is None:
            store = zk_store(spec, timeout=3)
        names = store.children("root.nodes")
        out = {}
        for n in names:
            d, c, m, k = store.read_many([(key, {"node": n}) for key in (
                "node.daemon_state", "node.coordinator_state", "node.domain_state",
                "node.keepalive")])
            out[n] = {"daemon_state": d, "coordinator_state": c, "domain_state": m,
                      "keepalive_age": round(time.time() - k, 1) if k else None}
        return out
    except Exception:  # not reachable or not initialized yet: nothing to report
        return {}
    finally:
        if own and store is not None:
            close(store)


def wait_ready(spec: ClusterSpec, timeout: float, say: Say = _quiet) -> None:
    """Until the quorum serves, every node is `run`, there is one primary, and the API
    answers on the floating address with the cluster's key."""
    deadline = time.monotonic() + timeout
    coords = [str(spec.node_address(c, "cluster").ip) for c in spec.coordinator_names]
    say("Waiting for the ZooKeeper quorum")
    for addr in coords:
        zookeeper.wait_serving(addr, ZK_CLIENT_PORT, max(deadline - time.monotonic(), 1))
    say("Waiting for every node daemon to reach run")
    store = zk_store(spec, timeout=max(deadline - time.monotonic(), 1))
    try:
        while True:
            states = node_states(spec, store)
            running = [n for n, s in states.items() if s["daemon_state"] == "run"]
            primaries = [n for n, s in states.items() if s["coordinator_state"] == "primary"]
            if len(running) == spec.nodes and len(primaries) == 1:
                break
            if time.monotonic() > deadline:
                raise BackendError(f"Cluster not ready in {timeout:.0f} s: {json.dumps(states)}")
            time.sleep(0.3)
    finally:
        close(store)
    say(f"Primary is {primaries[0]}; waiting for the API")
    while True:
        try:
            r = httpx.get(spec.api_url() + "/node", headers={"X-Api-Key": spec.api_key},
                          timeout=2)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise BackendError(f"The API at {spec.api_url()} did not answer in {timeout:.0f} s")
        time.sleep(0.3)


# -- up / down ----------------------------------------------------------------

def check_visible_inside() -> None:
    """Nodes run this same Python; it must not live where a node has a private mount."""
    exe = Path(sys.executable).absolute()
    hidden = [*configs.PRIVATE_DIRS, *configs.PRIVATE_FILES, "/run"]
    for path in hidden:
        if exe.is_relative_to(path):
            raise BackendError(f"{exe} is under {path}, which every dev node mounts privately; "
                               "put the checkout (and its .venv) somewhere else")


def up(spec: ClusterSpec, timeout: float = 180, say: Say = _quiet) -> ClusterSpec:
    """Build (or re-use) the cluster and wait until it is ready."""
    try:
        existing: ClusterSpec | None = load_spec(spec.state_dir)
    except NotFound:
        existing = None
    if existing is not None and is_running(existing):
        if (existing.nodes, existing.coordinators) != (spec.nodes, spec.coordinators):
            raise BackendError(
                f"Cluster {existing.name} is already up with {existing.nodes} nodes and "
                f"{existing.coordinators} coordinators; run `pvc-dev down` first")
        say(f"Cluster {existing.name} is already up")
        router.ensure(existing)
        wait_ready(existing, timeout, say)
        cephdev.ensure(existing, timeout, say)
        demo.ensure(existing, say)
        return existing
    check_visible_inside()
    if existing is not None or netsetup.leftovers(spec) or router.leftovers(spec):
        say("Cleaning up what an earlier run left behind")
        down(existing or spec, say=_quiet)
    netsetup.check_subnets_free(spec)
    say(f"Building cluster {spec.name}: {spec.nodes} nodes, {spec.coordinators} coordinators")
    spec.save()
    netsetup.create_bridges(spec)
    router.ensure(spec)
    for node in spec.node_names:
        configs.write_node(spec, node)
        netsetup.create_node_net(spec, node)
        start_bmc(spec, node)
    say("Preparing Ceph: configs, keys, mon stores (OSD stores in the background)")
    pending = cephdev.prepare(spec)
    for node in spec.node_names:
        power.on(spec, node)
    # Ceph comes up beside the PVC daemons and the demo VM (whose disk is not on Ceph;
    # a demo with an RBD disk would join `ceph` first)
    ceph = Background(lambda: cephdev.finish(spec, pending, timeout, say))
    wait_ready(spec, timeout, say)
    demo.ensure(spec, say)
    ceph.join(timeout)
    return spec


class Background:
    """A function run in a thread; join() re-raises what it raised."""

    def __init__(self, target: Callable[[], None]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                target()
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise BackendError(f"Still not done after {timeout:.0f} s")
        if self.error is not None:
            raise self.error


def node_service(spec: ClusterSpec, node: str, name: str, action: str) -> dict[str, Any]:
    """start/stop/kill/status of a service that the node's pvcnoded runs through its service
    control (its OSD), inside the node: {"running": bool, "pid": int | None}."""
    res = subprocess.run(power.inside(spec, node, [sys.executable, "-m", "pvc.node.services",
                                                   action, name]),
                         capture_output=True, text=True, timeout=120, check=False)
    if res.returncode != 0:
        raise BackendError(f"{name} on {node}: {(res.stderr or res.stdout).strip()}")
    reply: dict[str, Any] = json.loads(res.stdout)
    return reply


def down(spec: ClusterSpec, say: Say = _quiet) -> list[str]:
    """Remove every process, namespace, link and file of the cluster. Returns what could
    not be removed (empty when all is gone)."""
    for node in spec.node_names:
        if spec.state_dir.exists():
            power.off(spec, node)
        pid = bmc_pid(spec, node)
        if pid:
            bmc.stop(pid)
    router.destroy(spec)
    netsetup.destroy(spec)
    if spec.state_dir.exists():
        shutil.rmtree(spec.state_dir)
    left = netsetup.leftovers(spec) + router.leftovers(spec)
    with open("/proc/mounts") as fh:
        left += [f"mount {line.split()[1]}" for line in fh
                 if str(spec.state_dir) in line.split()[1]]
    if spec.state_dir.exists():
        left.append(f"directory {spec.state_dir}")
    say("Cluster removed" if not left else f"Left behind: {', '.join(left)}")
    return left


def control(spec: ClusterSpec, node: str, request: dict[str, Any]) -> dict[str, Any]:
    """Send a command to a node's nodeinit (status, start, stop, kill)."""
    path = spec.control_socket(node)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        try:
            s.connect(str(path))
        except OSError as exc:
            raise BackendError(f"Node {node} does not answer (is it powered on?): {exc}") from exc
        s.sendall(json.dumps(request).encode() + b"\n")
        data = s.makefile("rb").readline()
    reply: dict[str, Any] = json.loads(data or b"{}")
    if not reply.get("ok"):
        raise BackendError(f"Node {node}: {reply.get('error', 'no answer')}")
    return reply
