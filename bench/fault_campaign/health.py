"""The checks after each fault: is the cluster healthy, waiting for it, and lending hands."""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

import httpx
import redis

from bench.common import say
from bench.fault_campaign.outside import Api, Cli, dev
from bench.fault_campaign.report import Round
from bench.fault_campaign.sampler import Sampler
from bench.fault_campaign.settings import KEEPALIVE_STALE, POOL, READY_WAIT
from pvc.common.errors import BackendError
from pvc.devcluster import cluster, zookeeper
from pvc.devcluster.ceph import cluster as cephdev
from pvc.devcluster.ceph.admin import CephAdmin
from pvc.devcluster.layout import ZK_CLIENT_PORT, ClusterSpec
from pvc.devcluster.node import power
from pvc.drivers.fencing.ipmi import IpmiTool
from pvc.state.store import Store
from pvc.tasks.broker import current_master


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
        broker = broker_problem(self.spec)
        if broker:
            out.append(broker)
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


def broker_problem(spec: ClusterSpec) -> str | None:
    """Unless the Sentinels name a Redis master that every other coordinator's Redis
    replicates."""
    by_ip = {str(spec.node_address(n, "cluster").ip): n for n in spec.coordinator_names}
    master = current_master([(ip, 26379) for ip in by_ip], "pvc", len(by_ip))
    if master is None:
        return "Redis: the Sentinels name no master"
    try:
        info = redis.Redis(master[0], master[1], socket_timeout=2).info("replication")
    except redis.RedisError as exc:
        return f"Redis master {by_ip.get(master[0], master[0])} not answering: {exc}"
    if info.get("role") != "master" or info.get("connected_slaves") != len(by_ip) - 1:
        return (f"Redis master {by_ip.get(master[0], master[0])}: role {info.get('role')}, "
                f"{info.get('connected_slaves')} replicas")
    return None


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
