"""A fault campaign: many random faults in a row on a 3-node development cluster running
tiny VMs with RBD disks, and after each one a check that the cluster healed itself.

Each round a seeded RNG (`--seed`) picks a fault kind and a victim node; the kinds are
dealt like a shuffled deck, so every kind comes once in each run of five rounds:

- `power-off`: the node's power is cut through its BMC (ipmitool). The cluster fences it
  (its fencer powers it off and on again through the BMC) and restarts its VMs on the
  survivors; the node boots into `run` but stays `flushed`, and the campaign runs
  `pvc node ready` (the one operator action allowed), which brings its VMs back.
- `pvcnoded-kill`: `pvc-dev service hvN pvcnoded kill` (SIGKILL). The dev cluster's
  nodeinit deliberately does not restart pvcnoded (so a crashed daemon is visible), but a
  real node runs it under systemd with `Restart=on-failure`; the campaign stands in for
  systemd: once nodeinit reports the daemon gone it waits `RESTART_SEC` (1 s, nodeinit's
  own restart delay for the infrastructure services) and runs
  `pvc-dev service hvN pvcnoded start`. The node's QEMUs survive.
- `zookeeper-kill` and `libvirtd-kill`: the node's ZooKeeper server or libvirtd process is
  SIGKILLed directly (found in the node's PID namespace), as a crash would end it.
  nodeinit restarts both after 1 s. (`pvc-dev service ... kill` would mark the service
  unwanted, i.e. an operator's stop, and nodeinit would then leave it down.) QEMUs survive
  a libvirtd crash; the restarted libvirtd reconnects to them.
- `cut-off`: `pvc-dev link hvN cluster down`, held 2-20 s (below, around and beyond the
  self-fence and fence thresholds), then `up`. The node keeps its storage network. A long
  cut gets it fenced (power-cycled, which also plugs its links back): then `node ready`.

A background sampler asks every node's libvirt directly (through its unix socket, which
a cut cluster link does not affect; only running domains, so a live migration's paused
receiving side does not count) about five times a second which VMs run. A VM seen
running on two nodes is re-checked at once, asking the nodes one after the other in both
orders: a live migration hands over from a paused source, so a VM that shows running on
both nodes in both orders really ran twice.

After each fault the campaign waits (at most `--settle` seconds) until: every VM record
is `start` and the VM runs on exactly one node's libvirt, the one its record names;
every node is `run` and `ready` (after `node ready` where a node was fenced) with a fresh
keepalive (after a pvcnoded kill: one the restarted daemon wrote), with every
service its nodeinit supervises running and its ZooKeeper server serving; there is one
primary; and Ceph is HEALTH_OK with every OSD up and in and the VM pool clean. A round
that does not get there is not recovered: what was still wrong is printed, the campaign
lends hands (powers nodes on, plugs links, starts pvcnoded, starts stopped VMs, readies
nodes) and counts that round as needing hands; if even that does not heal the cluster,
the campaign stops. VMs lost (running nowhere at the end of the settle time, or their
record gone), double runs, rounds that needed hands and faults that could not be injected
(e.g. a BMC that answers "off" for a node that still runs) are counted per fault kind; the
exit status is non-zero on any of them, and each node's logs are then copied out (to
`--log-dir`) before the cluster is removed.

Run: sudo .venv/bin/python -m bench.fault_campaign [--faults 50] [--seed 1] [--settle 300]
(`--faults 5` for a quick check). Uses its own cluster `pvccamp` (prefix ck, subnet 70).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import libvirt

from bench.common import say
from pvc.client.connections import add_connection
from pvc.common.errors import BackendError
from pvc.devcluster import cephdev, cluster, demo, power, procs, zookeeper
from pvc.devcluster.cephadmin import CephAdmin
from pvc.devcluster.layout import ZK_CLIENT_PORT, ClusterSpec
from pvc.drivers.fencing.ipmi import IpmiTool
from pvc.state.store import Store

VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
KINDS = ("power-off", "pvcnoded-kill", "zookeeper-kill", "libvirtd-kill", "cut-off")
POOL = "vms"
RESTART_SEC = 1.0  # the systemd stand-in's delay before restarting a killed pvcnoded
CUT_HOLD = (2.0, 20.0)  # seconds a node's cluster link stays down
SAMPLE_INTERVAL = 0.2
READY_WAIT = 120.0  # seconds the campaign waits for one `pvc node ready --wait`
KEEPALIVE_STALE = 5.0  # seconds: a node's last keepalive older than this is no health


def campaign_spec() -> ClusterSpec:
    return ClusterSpec(name="pvccamp", prefix="ck", subnet=70, nodes=3, coordinators=3,
                       vm_shutdown_timeout=10)


# -- the cluster from outside ------------------------------------------------------

def run(cmd: list[str], check: bool = True, timeout: float = 120,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        if check:
            raise BackendError(f"{' '.join(cmd)} timed out after {timeout:.0f} s") from exc
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout:.0f} s")
    if check and res.returncode != 0:
        raise BackendError(f"{' '.join(cmd)} failed ({res.returncode}): "
                           f"{res.stderr.strip()}{res.stdout.strip()}")
    return res


def dev(spec: ClusterSpec, *args: str, check: bool = True) -> str:
    """`pvc-dev ARGS` on the campaign's cluster."""
    return run([str(VENV_BIN / "pvc-dev"), args[0], "--name", spec.name, *args[1:]],
               check=check).stdout


def domains_on(spec: ClusterSpec, node: str) -> set[str] | None:
    """UUIDs of the domains the node's libvirt runs (executing, not paused), asked inside
    the node (its libvirt listens on the cluster network, which may be cut); None when the
    node is off or its libvirtd does not answer."""
    pid = power.init_pid(spec, node)
    if pid is None:
        return None
    try:
        res = subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "--",
                              "virsh", "-q", "-c", "qemu:///system", "list", "--uuid",
                              "--state-running"],
                             capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return None
    if res.returncode != 0:
        return None
    return {line.strip() for line in res.stdout.splitlines() if line.strip()}


def _libvirt_event_loop() -> None:
    """libvirt's default event loop in a daemon thread, so that every connection sends
    keepalives and one whose libvirtd is gone fails within seconds instead of hanging."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are handled
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, name="libvirt-events", daemon=True).start()


class NodeLibvirt:
    """One node's libvirt, asked which domains run, through its unix socket seen from the
    host (`/proc/<node init>/root/run/libvirt/libvirt-sock`): no process per question, so
    the sampler can ask often. The connection is dropped on any error and made again (a
    restarted libvirtd, a node powered off and on); if it cannot be made, `virsh` inside
    the node answers instead."""

    def __init__(self, spec: ClusterSpec, node: str) -> None:
        self.spec = spec
        self.node = node
        self.conn: Any = None
        self.pid: int | None = None
        self.lock = threading.Lock()

    def _drop(self) -> None:
        if self.conn is not None:
            with suppress(libvirt.libvirtError):
                self.conn.close()
        self.conn = None

    def running(self) -> set[str] | None:
        with self.lock:
            pid = power.init_pid(self.spec, self.node)
            if pid is None:
                self._drop()
                return None
            if self.conn is None or pid != self.pid:
                self._drop()
                self.pid = pid
                sock = f"/proc/{pid}/root/run/libvirt/libvirt-sock"
                try:
                    self.conn = libvirt.open(f"qemu+unix:///system?socket={sock}")
                    self.conn.setKeepAlive(2, 3)
                except libvirt.libvirtError:
                    self._drop()
                    return domains_on(self.spec, self.node)
            try:
                doms = self.conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING)
                return {str(d.UUIDString()) for d in doms}
            except libvirt.libvirtError:
                self._drop()
                return domains_on(self.spec, self.node)


def node_pids(spec: ClusterSpec, node: str, match: Callable[[list[str]], bool]) -> list[int]:
    """Host PIDs of the processes in the node's PID namespace whose command line matches."""
    init = power.init_pid(spec, node)
    if init is None:
        return []
    try:
        ns = os.readlink(f"/proc/{init}/ns/pid")
    except OSError:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == init:
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            args = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if match(args.split("\0")):
            out.append(int(entry))
    return out


def is_zookeeper(args: list[str]) -> bool:
    return any("QuorumPeerMain" in a for a in args)


def is_libvirtd(args: list[str]) -> bool:
    return bool(args) and os.path.basename(args[0]) == "libvirtd"


class Api:
    def __init__(self, spec: ClusterSpec) -> None:
        self.client = httpx.Client(base_url=spec.api_url(), timeout=30,
                                   headers={"X-Api-Key": spec.api_key})

    def vms(self) -> list[dict[str, Any]] | None:
        """Every VM record (None when the API does not answer right now)."""
        try:
            r = self.client.get("/vm")
        except httpx.HTTPError:
            return None
        return list(r.json()) if r.status_code == 200 else None

    def post(self, path: str, **params: str) -> httpx.Response:
        return self.client.post(path, params=params)

    def close(self) -> None:
        self.client.close()


class Cli:
    """The `pvc` CLI with a connection of its own (not the user's config)."""

    def __init__(self, spec: ClusterSpec, client_dir: Path) -> None:
        add_connection(spec.name, str(spec.floating_address("upstream")), port=7370,
                       api_key=spec.api_key, path=client_dir / "pvc.json")
        self.env = {**os.environ, "PVC_CLIENT_DIR": str(client_dir),
                    "PVC_CONNECTION": spec.name}

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run([str(VENV_BIN / "pvc"), *args], check=False, timeout=timeout, env=self.env)


# -- the double-run sampler ------------------------------------------------------------

@dataclass
class Double:
    round: int
    uuid: str
    nodes: list[str]
    at: float


class Sampler:
    """Asks every node's libvirt (in parallel) which VMs run, every SAMPLE_INTERVAL s."""

    def __init__(self, spec: ClusterSpec, uuids: dict[str, str]) -> None:
        self.spec = spec
        self.uuids = uuids  # uuid -> name
        self.round = 0
        self.samples = 0
        self.suspects = 0  # seen on two nodes once, not confirmed in both orders
        self.doubles: list[Double] = []
        self.last: dict[str, list[str]] = {}
        self.began = self.rate = 0.0
        self.libvirt = {n: NodeLibvirt(spec, n) for n in spec.node_names}
        self._pool = ThreadPoolExecutor(len(spec.node_names))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def ask(self, nodes: list[str]) -> dict[str, set[str]]:
        found = self._pool.map(lambda n: self.libvirt[n].running() or set(), nodes)
        return dict(zip(nodes, found, strict=True))

    def snapshot(self) -> dict[str, list[str]]:
        """uuid -> the nodes that run it."""
        seen = self.ask(self.spec.node_names)
        return {u: [n for n in self.spec.node_names if u in seen[n]] for u in self.uuids}

    def _confirm(self, uuid: str, nodes: list[str]) -> bool:
        """Asked one node after the other, in both orders, the VM runs on all of them. (A
        live migration X -> Y shows running on both when X is asked before Y, never when
        Y is asked first: the source stops running before the target starts.)"""
        return all(uuid in (self.libvirt[node].running() or set())
                   for order in (nodes, nodes[::-1]) for node in order)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            now = self.snapshot()
            self.samples += 1
            self.last = now
            for uuid, nodes in now.items():
                if len(nodes) > 1:
                    if self._confirm(uuid, nodes):
                        self.doubles.append(Double(self.round, uuid, nodes, time.time()))
                        say(f"!! DOUBLE RUN: VM {self.uuids[uuid]} ({uuid}) runs on "
                            f"{', '.join(nodes)} (round {self.round})")
                    else:
                        self.suspects += 1
            self._stop.wait(max(SAMPLE_INTERVAL - (time.monotonic() - began), 0.02))

    def __enter__(self) -> Sampler:
        self.began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self._pool.shutdown(wait=False)
        self.rate = self.samples / max(time.monotonic() - self.began, 1e-3)


# -- health --------------------------------------------------------------------------

class Observer:
    def __init__(self, spec: ClusterSpec, api: Api, sampler: Sampler) -> None:
        self.spec = spec
        self.api = api
        self.sampler = sampler
        self._store: Store | None = None
        # node -> wall time after which its keepalive must have been written (by a
        # restarted daemon, not the killed one's last)
        self.fresh: dict[str, float] = {}

    @property
    def store(self) -> Store:
        if self._store is None or not self._store.zk.connected:
            if self._store is not None:
                with suppress(Exception):
                    cluster.close(self._store)
            self._store = cluster.zk_store(self.spec, timeout=10)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            with suppress(Exception):
                cluster.close(self._store)

    def nodes(self) -> dict[str, dict[str, Any]]:
        try:
            return cluster.node_states(self.spec, self.store)
        except Exception:
            return {}

    def problems(self) -> tuple[list[str], list[str]]:
        """(what keeps the cluster from being healthy, the nodes waiting for `ready`)."""
        out: list[str] = []
        to_ready: list[str] = []
        states = self.nodes()
        if not states:
            return ["node states not readable from ZooKeeper"], []
        for node in self.spec.node_names:
            s = states.get(node, {})
            if power.init_pid(self.spec, node) is None:
                out.append(f"{node} powered off")
            if s.get("daemon_state") != "run" or s.get("domain_state") != "ready":
                out.append(f"{node} {s.get('daemon_state')},{s.get('domain_state')}")
                if s.get("daemon_state") == "run" and s.get("domain_state") == "flushed":
                    to_ready.append(node)
            age = s.get("keepalive_age")
            if age is None or age > KEEPALIVE_STALE:
                out.append(f"{node} keepalive {age} s old")
            elif node in self.fresh and time.time() - age < self.fresh[node]:
                out.append(f"{node} no keepalive from the restarted daemon yet")
            out += services_down(self.spec, node)
        primaries = [n for n, s in states.items() if s.get("coordinator_state") == "primary"]
        if len(primaries) != 1:
            out.append(f"primaries: {primaries}")
        records = self.api.vms()
        if records is None:
            out.append("API not answering")
        else:
            where = self.sampler.snapshot()
            names = {r["uuid"]: r for r in records}
            for uuid, name in self.sampler.uuids.items():
                rec = names.get(uuid)
                if rec is None:
                    out.append(f"VM {name}: record gone")
                    continue
                if rec["state"] != "start" or where[uuid] != [rec["node"]]:
                    out.append(f"VM {name}: {rec['state']} on {rec['node']}, libvirt: "
                               f"{where[uuid]}")
        if not out:  # Ceph last: the slowest question
            ceph = ceph_problem(self.spec)
            if ceph:
                out.append(ceph)
        return out, to_ready

    def running_nowhere(self) -> list[str]:
        where = self.sampler.snapshot()
        return [self.sampler.uuids[u] for u, nodes in where.items() if not nodes]


def services_down(spec: ClusterSpec, node: str) -> list[str]:
    """The node's services that should run but do not (nodeinit's view), and its ZooKeeper
    server if it does not serve as part of the quorum."""
    if power.init_pid(spec, node) is None:
        return []
    try:
        services = cluster.control(spec, node, {"cmd": "status"})["services"]
    except (BackendError, OSError, ValueError) as exc:
        return [f"{node}: nodeinit not answering: {exc}"]
    out = [f"{node}: {name} not running" for name, svc in services.items()
           if not svc.get("running")]
    if node in spec.coordinator_names and not zookeeper.serving(
            str(spec.node_address(node, "cluster").ip), ZK_CLIENT_PORT):
        out.append(f"{node}: ZooKeeper not serving")
    return out


def ceph_problem(spec: ClusterSpec) -> str | None:
    try:
        with CephAdmin(cephdev.host_conf(spec), cephdev.host_keyring(spec), timeout=10) as a:
            osds = a.osd_states()
            if not all(v == (True, True) for v in osds.values()):
                return f"Ceph OSDs (up, in): {osds}"
            if not a.pool_clean(POOL):
                return "Ceph: the vms pool is not clean"
            h = a.health()
            if h["status"] != "HEALTH_OK":
                return f"Ceph {a.health_line()}"
    except Exception as exc:
        return f"Ceph not answering: {exc}"
    return None


# -- faults ---------------------------------------------------------------------------

def inject(spec: ClusterSpec, kind: str, node: str, rng: random.Random) -> str:
    """Inject one fault; returns a note (e.g. how long a link was cut)."""
    if kind == "power-off":
        bmc = IpmiTool(str(spec.bmc_address(node)), spec.ipmi_username, spec.ipmi_password,
                       timeout=5)
        try:
            bmc.power_off()
        except BackendError:
            if bmc.power_status() != "off":
                raise
        # the node itself must be off, not only its BMC's word for it
        deadline = time.monotonic() + 10
        while power.init_pid(spec, node) is not None:
            if time.monotonic() > deadline:
                raise BackendError(f"the BMC of {node} took the power off, yet the node "
                                   f"still runs (BMC says {bmc.power_status()})")
            time.sleep(0.05)
        return ""
    if kind == "pvcnoded-kill":
        dev(spec, "service", node, "pvcnoded", "kill")
        # systemd's Restart=on-failure: once the daemon is gone, RestartSec, start again
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = dev(spec, "service", node, "pvcnoded", "status", check=False)
            if "stopped" in status or power.init_pid(spec, node) is None:
                break
            time.sleep(0.1)
        time.sleep(RESTART_SEC)
        if power.init_pid(spec, node) is None:
            return "node powered off before the restart"
        dev(spec, "service", node, "pvcnoded", "start", check=False)
        return ""
    if kind in ("zookeeper-kill", "libvirtd-kill"):
        pids = node_pids(spec, node, is_zookeeper if kind == "zookeeper-kill" else is_libvirtd)
        if not pids:
            raise BackendError(f"no {kind.split('-')[0]} process on {node}")
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10  # gone (reaped by nodeinit) before the checks
        while time.monotonic() < deadline and any(
                procs.state(p) not in (None, "Z") for p in pids):
            time.sleep(0.05)
        return f"pid {','.join(map(str, pids))}"
    if kind == "cut-off":
        hold = rng.uniform(*CUT_HOLD)
        dev(spec, "link", node, "cluster", "down")
        time.sleep(hold)
        # a node fenced meanwhile was power-cycled, which plugs its links back
        dev(spec, "link", node, "cluster", "up", check=False)
        return f"held {hold:.1f} s"
    raise ValueError(kind)


# -- the campaign ------------------------------------------------------------------------

@dataclass
class Tally:
    injected: int = 0
    failed: int = 0  # the fault could not be injected (it is then neither recovered)
    recovered: int = 0
    times: list[float] = field(default_factory=list)
    lost: int = 0
    doubles: int = 0
    hands: int = 0
    readies: int = 0
    fenced: int = 0


@dataclass
class Round:
    index: int
    kind: str
    node: str
    note: str = ""
    injected: bool = True
    recovered: bool = False
    took: float = 0.0
    lost: list[str] = field(default_factory=list)
    hands: bool = False
    readied: list[str] = field(default_factory=list)
    fenced: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def settle(obs: Observer, cli: Cli, timeout: float, rnd: Round, t0: float,
           allow_ready: bool = True) -> bool:
    """Wait until the cluster is healthy, readying nodes the cluster fenced."""
    deadline = t0 + timeout
    problems: list[str] = []
    while time.monotonic() < deadline:
        problems, to_ready = obs.problems()
        if not problems:
            return True
        # one `node ready` per node and round: a node that falls back to flushed after
        # it (a ready that failed) needs an operator, which the round counts as hands
        for node in [n for n in to_ready if allow_ready and n not in rnd.readied]:
            say(f"   {node} is back and flushed: pvc node ready {node}")
            res = cli("node", "ready", node, "--wait",
                      timeout=min(max(deadline - time.monotonic(), 30), READY_WAIT))
            rnd.readied.append(node)
            if res.returncode != 0:
                say(f"   node ready {node} failed: {res.stderr.strip()}{res.stdout.strip()}")
        time.sleep(1)
    problems, _ = obs.problems()  # afresh: a long `node ready` may have outlived the last
    if not problems:
        return True
    rnd.left = problems
    return False


def lend_hands(spec: ClusterSpec, obs: Observer, cli: Cli) -> None:
    """What an operator would do to a cluster that did not heal itself."""
    for node in spec.node_names:
        if power.init_pid(spec, node) is None:
            say(f"   hands: power on {node}")
            with suppress(BackendError):
                IpmiTool(str(spec.bmc_address(node)), spec.ipmi_username,
                         spec.ipmi_password, timeout=5).power_on()
    time.sleep(5)
    for node in spec.node_names:
        if power.init_pid(spec, node) is None:
            continue
        dev(spec, "link", node, "cluster", "up", check=False)
        if "stopped" in dev(spec, "service", node, "pvcnoded", "status", check=False):
            say(f"   hands: start pvcnoded on {node}")
            dev(spec, "service", node, "pvcnoded", "start", check=False)
    for rec in obs.api.vms() or []:
        if rec["state"] != "start":
            say(f"   hands: start VM {rec['name']} ({rec['state']} on {rec['node']})")
            with suppress(httpx.HTTPError):
                obs.api.post(f"/vm/{rec['name']}/state", state="start", wait="true")
    for node, s in obs.nodes().items():
        if s.get("daemon_state") == "run" and s.get("domain_state") != "ready":
            say(f"   hands: node ready {node}")
            cli("node", "ready", node, "--wait")


def make_vms(spec: ClusterSpec, api: Api, count: int) -> dict[str, str]:
    """`count` tiny VMs with an RBD disk each, spread over the nodes; uuid -> name."""
    out = {}
    for i in range(count):
        name = f"camp{i}"
        node = spec.node_names[i % len(spec.node_names)]
        r = api.post("/storage/ceph/volume", volume=f"{name}_disk", pool=POOL, size="16M")
        if r.status_code != 200:
            raise BackendError(f"volume {name}_disk: {r.text}")
        xml = demo.vm_xml(spec, name, disks=[demo.rbd_disk(spec, f"{POOL}/{name}_disk")])
        r = api.client.post("/vm", data={"xml": xml}, params={"node": node})
        if r.status_code != 200:
            raise BackendError(f"define {name}: {r.text}")
        r = api.post(f"/vm/{name}/state", state="start", wait="true")
        if r.status_code != 200:
            raise BackendError(f"start {name}: {r.text}")
    for rec in api.vms() or []:  # every VM of the cluster is watched (the demo VM too)
        out[rec["uuid"]] = rec["name"]
    return out


def save_logs(spec: ClusterSpec, dest: Path) -> None:
    for node in spec.node_names:
        src = spec.node_dir(node) / "var" / "log"
        if src.exists():
            shutil.copytree(src, dest / node, dirs_exist_ok=True,
                            ignore_dangling_symlinks=True)
    say(f"node logs copied to {dest}")


@contextmanager
def campaign_cluster(keep: bool) -> Iterator[ClusterSpec]:
    spec = campaign_spec()
    try:
        spec = cluster.up(spec, timeout=300, say=lambda m: say(f"pvc-dev: {m}"))
        yield spec
    finally:
        if keep:
            say(f"cluster {spec.name} left up (--keep); `pvc-dev down --name {spec.name}`")
        else:
            left = cluster.down(spec)
            say("cluster removed" if not left else f"pvc-dev down left: {left}")


def table(tallies: dict[str, Tally], sampler: Sampler) -> str:
    head = (f"{'fault':16}{'injected':>9}{'failed':>7}{'recovered':>10}{'median s':>9}{'max s':>7}"
            f"{'VMs lost':>9}{'double':>7}{'hands':>6}{'ready':>6}{'fenced':>7}")
    lines = [head, "-" * len(head)]
    total = Tally()
    for kind in KINDS:
        t = tallies[kind]
        med = f"{statistics.median(t.times):.1f}" if t.times else "-"
        mx = f"{max(t.times):.1f}" if t.times else "-"
        lines.append(f"{kind:16}{t.injected:>9}{t.failed:>7}{t.recovered:>10}{med:>9}{mx:>7}{t.lost:>9}"
                     f"{t.doubles:>7}{t.hands:>6}{t.readies:>6}{t.fenced:>7}")
        total.injected += t.injected
        total.failed += t.failed
        total.recovered += t.recovered
        total.times += t.times
        total.lost += t.lost
        total.doubles += t.doubles
        total.hands += t.hands
        total.readies += t.readies
        total.fenced += t.fenced
    med = f"{statistics.median(total.times):.1f}" if total.times else "-"
    mx = f"{max(total.times):.1f}" if total.times else "-"
    lines += ["-" * len(head),
              f"{'all':16}{total.injected:>9}{total.failed:>7}{total.recovered:>10}{med:>9}{mx:>7}"
              f"{total.lost:>9}{total.doubles:>7}{total.hands:>6}{total.readies:>6}"
              f"{total.fenced:>7}",
              f"(failed: the fault could not be injected; recovered: healthy within "
              f"--settle without hands; median/max: fault to "
              f"healthy, of those; ready: `node ready` runs; fenced: nodes power-cycled by "
              f"the cluster; {sampler.samples} libvirt samples ({sampler.rate:.1f}/s), "
              f"{sampler.suspects} "
              f"two-node sightings not confirmed in both orders)"]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faults", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vms", type=int, default=4, help="RBD-disk VMs (plus the demo VM)")
    ap.add_argument("--settle", type=float, default=300,
                    help="seconds a round may take to heal (from the fault)")
    ap.add_argument("--pause", type=float, default=3, help="seconds of calm between rounds")
    ap.add_argument("--log-dir", type=Path, default=None,
                    help="where node logs go on a failure (default /tmp/fault-campaign-SEED)")
    ap.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    args = ap.parse_args()
    _libvirt_event_loop()
    logging.getLogger("kazoo").setLevel(logging.ERROR)  # its reconnects are expected here
    if os.geteuid() != 0:
        say("this needs root: sudo .venv/bin/python -m bench.fault_campaign")
        return 2
    rng = random.Random(args.seed)
    log_dir = args.log_dir or Path(f"/tmp/fault-campaign-{args.seed}")
    tallies = {k: Tally() for k in KINDS}
    rounds: list[Round] = []
    aborted = ""
    deck: list[str] = []
    begun = time.monotonic()
    with campaign_cluster(args.keep) as spec, \
            tempfile.TemporaryDirectory(prefix="pvc-campaign-") as client_dir:
        api = Api(spec)
        cli = Cli(spec, Path(client_dir))
        say(f"making {args.vms} RBD-disk VMs")
        uuids = make_vms(spec, api, args.vms)
        with Sampler(spec, uuids) as sampler:
            obs = Observer(spec, api, sampler)
            rnd0 = Round(0, "setup", "-")
            if not settle(obs, cli, args.settle, rnd0, time.monotonic()):
                aborted = f"the fresh cluster never got healthy: {rnd0.left}"
            for i in range(1, args.faults + 1):
                if aborted:
                    break
                if not deck:  # every kind once per len(KINDS) rounds, in a random order
                    deck = rng.sample(KINDS, len(KINDS))
                kind, node = deck.pop(), rng.choice(spec.node_names)
                rnd = Round(i, kind, node)
                rounds.append(rnd)
                tally = tallies[kind]
                sampler.round = i
                doubles_before = len(sampler.doubles)
                boots = {n: power.init_pid(spec, n) for n in spec.node_names}
                placed = {uuids[u]: nodes for u, nodes in sampler.snapshot().items()}
                say(f"[{i}/{args.faults}] {kind} on {node} (VMs: "
                    + ", ".join(f"{n}@{'+'.join(w) or '-'}" for n, w in placed.items()) + ")")
                t0 = time.monotonic()
                tally.injected += 1
                obs.fresh = {}
                try:
                    rnd.note = inject(spec, kind, node, rng)
                    if kind == "pvcnoded-kill":
                        obs.fresh[node] = time.time()
                except BackendError as exc:
                    rnd.note = f"INJECTION FAILED: {exc}"
                    rnd.injected = False
                    tally.failed += 1
                    say(f"   {rnd.note}")
                rnd.recovered = settle(obs, cli, args.settle, rnd, t0)
                rnd.took = time.monotonic() - t0
                # power-cycled meanwhile (by the cluster's fencer: the campaign only
                # powers nodes on when it lends hands)
                rnd.fenced = [n for n in spec.node_names if boots[n] is not None
                              and power.init_pid(spec, n) != boots[n]]
                if not rnd.recovered:
                    rnd.lost = obs.running_nowhere()
                    say(f"   NOT RECOVERED after {rnd.took:.0f} s: {'; '.join(rnd.left)}")
                    rnd.hands = True
                    lend_hands(spec, obs, cli)
                    after = Round(i, kind, node)
                    if not settle(obs, cli, args.settle, after, time.monotonic()):
                        aborted = (f"round {i} ({kind} on {node}) did not heal even with "
                                   f"hands: {after.left}")
                    names = set(uuids.values())
                    rnd.lost += [n for n in names if n not in {
                        r["name"] for r in (api.vms() or [])} and n not in rnd.lost]
                new_doubles = len({d.uuid for d in sampler.doubles[doubles_before:]})
                tally.doubles += new_doubles
                tally.lost += len(rnd.lost)
                tally.readies += len(rnd.readied)
                tally.fenced += len(rnd.fenced)
                if rnd.recovered and rnd.injected:
                    tally.recovered += 1
                    tally.times.append(rnd.took)
                if rnd.hands:
                    tally.hands += 1
                say(f"   {'healed' if rnd.recovered else 'NOT healed'} after {rnd.took:.1f} s"
                    + (f" ({rnd.note})" if rnd.note else "")
                    + (f"; fenced {','.join(rnd.fenced)}" if rnd.fenced else "")
                    + (f"; readied {','.join(rnd.readied)}" if rnd.readied else "")
                    + (f"; LOST {rnd.lost}" if rnd.lost else "")
                    + (f"; {new_doubles} DOUBLE RUN(S)" if new_doubles else ""))
                time.sleep(args.pause)
            obs.close()
        failed = bool(aborted or any(t.lost or t.doubles or t.hands or t.failed
                                     for t in tallies.values()))
        if failed:
            save_logs(spec, log_dir)
        api.close()
    print(f"\nFault campaign: seed {args.seed}, {len(rounds)} faults, "
          f"{(time.monotonic() - begun) / 60:.1f} min")
    print(table(tallies, sampler))
    for d in sampler.doubles:
        print(f"DOUBLE RUN: round {d.round}: {uuids[d.uuid]} on {d.nodes} at "
              f"{time.strftime('%H:%M:%S', time.localtime(d.at))}")
    for rnd in rounds:
        if not rnd.recovered or rnd.lost or not rnd.injected:
            print(f"round {rnd.index} {rnd.kind} on {rnd.node} ({rnd.note}): not healed "
                  f"within --settle: {'; '.join(rnd.left)}" + (f"; lost {rnd.lost}"
                                                              if rnd.lost else ""))
    if aborted:
        print(f"ABORTED: {aborted}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
