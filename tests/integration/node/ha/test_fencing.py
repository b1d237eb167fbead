"""The fence monitor against real ZooKeeper and a real ipmi_sim BMC (ipmitool over UDP).

The "node" behind the BMC is a state file that a small power script turns on and off and
that logs every power action with its time, so a test can tell when the node was off.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from pvc.common import vm
from pvc.common.config import Config
from pvc.devcluster.node import bmc
from pvc.drivers.fencing.ipmi import IPMITOOL
from pvc.node.ha import bmc_check, fencing
from pvc.node.ha.fencing import FenceMonitor
from pvc.ops.vm import define as vm_define
from pvc.state.store import Store
from tests.integration.api.support import make_config, standard_cluster
from tests.integration.api.vm.support import domain_xml, uuid_of
from tests.integration.drivers.fencing.test_ipmi_bmc import PASSWORD, USER, free_udp_port
from tests.integration.waiting import wait_until

pytestmark = pytest.mark.skipif(
    not (os.access(bmc.IPMI_SIM, os.X_OK) and os.access(IPMITOOL, os.X_OK)),
    reason="ipmi_sim (openipmi) or ipmitool is not installed",
)

INTERVAL = 0.4  # keepalive interval of these tests: saving throws take 0.8 s


@dataclass
class Node:
    """The dead node's BMC and what its power script saw."""

    port: int
    state: Path
    calls: Path
    pid: int | None

    def actions(self) -> list[tuple[str, float]]:
        if not self.calls.exists():
            return []
        return [(a, float(t)) for a, t in (line.split() for line in
                                           self.calls.read_text().splitlines())]


def power_script(tmp_path: Path, state: Path, calls: Path, obey_off: bool) -> Path:
    script = tmp_path / "power.sh"
    off = f"echo off > '{state}'" if obey_off else "true"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = status ] || echo "$1 $(date +%s.%N)" >> \'{calls}\'\n'
        'case "$1" in\n'
        f"    on) echo on > '{state}' ;;\n"
        f"    off) {off} ;;\n"
        f"    status) cat '{state}' ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


def start_bmc(tmp_path: Path, obey_off: bool = True) -> Node:
    state, calls = tmp_path / "node-state", tmp_path / "calls"
    state.write_text("on\n")
    spec = bmc.BmcSpec(node="hv3", address="127.0.0.1", port=free_udp_port(), username=USER,
                       password=PASSWORD, workdir=tmp_path / "bmc",
                       power_command=[str(power_script(tmp_path, state, calls, obey_off))])
    return Node(spec.port, state, calls, bmc.start(spec))


wait_for = functools.partial(wait_until, timeout=60)


@pytest.fixture
def node3(tmp_path: Path) -> Iterator[Node]:
    node = start_bmc(tmp_path)
    try:
        yield node
    finally:
        assert node.pid
        bmc.stop(node.pid)


def config(**fence: Any) -> Config:
    base = make_config(timer={"keepalive_interval": INTERVAL},
                       fencing={"intervals": {"fence_intervals": 3}, "actions": fence})
    return replace(base, keepalive_interval=INTERVAL)


def cluster(store: Store, port: int, cfg: Config) -> dict[str, str]:
    """hv1 (primary), hv2 and hv3 coordinators, hv4 flushed; hv3's BMC on `port`. VMs:
    three running on hv3, one limited to hv3, one stopped on hv3, one running on hv1."""
    standard_cluster(store)
    store.write("node.ipmi", {"hostname": "127.0.0.1", "username": USER,
                              "password": PASSWORD, "port": port}, node="hv3")
    vms = {}
    for name, node, limit, state in (("big", "hv3", None, "start"),
                                     ("web", "hv3", None, "start"),
                                     ("db", "hv3", None, "start"),
                                     ("pinned", "hv3", "hv3", "start"),
                                     ("idle", "hv3", None, "stop"),
                                     ("other", "hv1", None, "start")):
        memory = 2048 if name == "big" else 256
        vm_define.define(store, cfg, domain_xml(name, memory=memory), node=node, limit=limit,
                         state=state)
        vms[name] = uuid_of(name)
    return vms


def kill(store: Store, node: str) -> None:
    """What the primary does to a silent node."""
    store.write("node.daemon_state", "dead", node=node)


def status(store: Store, uuid: str) -> dict[str, Any]:
    return vm.status_of(store.read("domain.status", domain=uuid))


@pytest.fixture
def monitors(zk_hosts: str) -> Iterator[Callable[..., FenceMonitor]]:
    """Start fence monitors, each with a ZooKeeper session of its own (as on a node)."""
    started: list[tuple[FenceMonitor, KazooClient]] = []

    def make(node: str, cfg: Config) -> FenceMonitor:
        client = KazooClient(hosts=zk_hosts)
        client.start(timeout=10)
        mon = FenceMonitor(Store(client), node, cfg, lambda: True)
        mon.start()
        started.append((mon, client))
        return mon

    yield make
    for mon, client in started:
        mon.stop()
        client.stop()
        client.close()


def test_a_dead_node_is_powered_off_its_vms_start_on_survivors_then_it_powers_on(
        store: Store, node3: Node, monitors: Callable[..., FenceMonitor]) -> None:
    cfg = config()
    vms = cluster(store, node3.port, cfg)
    before = {n: status(store, u) for n, u in vms.items()}
    monitors("hv1", cfg)
    monitors("hv2", cfg)  # a second coordinator: only one of them fences
    dead_at = time.time()
    kill(store, "hv3")
    wait_for("hv3 flushed", lambda: store.read("node.domain_state", node="hv3") == "flushed")
    wait_for("hv3 powered on again", lambda: len(node3.actions()) == 2)
    took = time.time() - dead_at
    (off, off_at), (on, on_at) = node3.actions()
    assert (off, on) == ("off", "on")  # once, by one monitor
    assert node3.state.read_text().strip() == "on"
    # the saving throws were waited out, the rest took a fraction of a second or so
    assert off_at - dead_at >= fencing.SAVING_THROWS * INTERVAL
    assert took < fencing.SAVING_THROWS * INTERVAL + 15, took
    assert store.read_many([("node.daemon_state", {"node": "hv3"}),
                            ("node.coordinator_state", {"node": "hv3"}),
                            ("config.primary_node", {})]) == ["fenced", "secondary", "hv1"]
    assert store.read("node.stats", node="hv3")["running_domains"] == []

    targets = {}
    for name in ("big", "web", "db"):
        s = status(store, vms[name])
        assert s["state"] == "start" and s["node"] in ("hv1", "hv2"), s
        assert s["last_node"] == "hv3"
        assert s["intent"]["seq"] == before[name]["intent"].get("seq", 0) + 1
        targets[name] = s["node"]
        # handed over while hv3 was off: before the power on
        _, stat = store.zk.get(store.path("domain.status", domain=vms[name]))
        assert off_at <= stat.mtime / 1000 <= on_at + 0.05
    # the selector (mem) with the memory promised to each target: not all on one node
    assert len(set(targets.values())) == 2, targets
    # no survivor within its node limit: stopped, to start on hv3 when it is ready
    pinned = status(store, vms["pinned"])
    assert (pinned["state"], pinned["node"]) == ("stop", "hv3")
    assert store.read("domain.meta", domain=vms["pinned"])["node_autostart"] is True
    for name in ("idle", "other"):
        assert status(store, vms[name]) == before[name]


def test_the_node_speaking_up_during_the_saving_throws_cancels_the_fence(
        store: Store, node3: Node, monitors: Callable[..., FenceMonitor]) -> None:
    cfg = config()
    vms = cluster(store, node3.port, cfg)
    before = {n: status(store, u) for n, u in vms.items()}
    monitors("hv1", cfg)
    kill(store, "hv3")
    time.sleep(INTERVAL)  # within the saving throws
    store.txn().set("node.daemon_state", "run", node="hv3").set(
        "node.keepalive", time.time(), node="hv3").commit()
    time.sleep(fencing.SAVING_THROWS * INTERVAL + 2)
    assert node3.actions() == []
    assert store.read("node.daemon_state", node="hv3") == "run"
    assert {n: status(store, u) for n, u in vms.items()} == before


def test_maintenance_mode_stops_fencing(store: Store, node3: Node,
                                        monitors: Callable[..., FenceMonitor]) -> None:
    cfg = config()
    vms = cluster(store, node3.port, cfg)
    store.write("config.maintenance", True)
    monitors("hv1", cfg)
    kill(store, "hv3")
    time.sleep(fencing.SAVING_THROWS * INTERVAL + 3)
    assert node3.actions() == []
    assert status(store, vms["web"])["node"] == "hv3"
    # maintenance over and the node still silent: now it is fenced
    store.write("config.maintenance", False)
    wait_for("hv3 flushed", lambda: store.read("node.domain_state", node="hv3") == "flushed")
    wait_for("hv3 powered on again", lambda: len(node3.actions()) == 2)
    assert [a for a, _ in node3.actions()] == ["off", "on"]


def test_a_bmc_that_does_not_answer_is_a_failed_fence(
        store: Store, monitors: Callable[..., FenceMonitor]) -> None:
    cfg = config()
    vms = cluster(store, free_udp_port(), cfg)  # nothing listens there
    before = {n: status(store, u) for n, u in vms.items()}
    monitors("hv1", cfg)
    kill(store, "hv3")
    fault = wait_for("the fault", lambda: store.read("fault", default=None,
                                                     fault="FENCE_FAILED_hv3"), timeout=90)
    assert fault["health_delta"] == fencing.FAULT_DELTA
    assert "hv3" in fault["message"] and "power off" in fault["message"]
    time.sleep(1)
    assert store.read("node.daemon_state", node="hv3") == "dead"
    assert store.read("node.domain_state", node="hv3") == "ready"
    assert {n: status(store, u) for n, u in vms.items()} == before  # no VM touched


def test_a_node_that_stays_on_is_a_failed_fence(
        store: Store, tmp_path: Path, monitors: Callable[..., FenceMonitor]) -> None:
    node = start_bmc(tmp_path, obey_off=False)  # "power off" does nothing
    try:
        cfg = config()
        vms = cluster(store, node.port, cfg)
        before = {n: status(store, u) for n, u in vms.items()}
        monitors("hv1", cfg)
        kill(store, "hv3")
        fault = wait_for("the fault", lambda: store.read("fault", default=None,
                                                         fault="FENCE_FAILED_hv3"))
        assert "read on after the power off and on at the end" in fault["message"]
        # (the BMC skips a power on of a node that it sees on)
        assert [a for a, _ in node.actions()] == ["off"]
        time.sleep(1)
        assert store.read("node.daemon_state", node="hv3") == "dead"
        assert {n: status(store, u) for n, u in vms.items()} == before
        # one attempt per death: no retry while the node stays dead
        time.sleep(fencing.SAVING_THROWS * INTERVAL + 1)
        assert len(node.actions()) == 1
    finally:
        assert node.pid
        bmc.stop(node.pid)


def test_failed_fence_migrate_moves_the_vms_anyway(
        store: Store, monitors: Callable[..., FenceMonitor]) -> None:
    cfg = config(failed_fence="migrate")
    vms = cluster(store, free_udp_port(), cfg)
    monitors("hv1", cfg)
    kill(store, "hv3")
    wait_for("hv3 flushed", lambda: store.read("node.domain_state", node="hv3") == "flushed",
             timeout=90)
    assert store.read("fault", default=None, fault="FENCE_FAILED_hv3") is not None
    assert status(store, vms["web"])["node"] in ("hv1", "hv2")


def test_successful_fence_none_leaves_the_vms(
        store: Store, node3: Node, monitors: Callable[..., FenceMonitor]) -> None:
    cfg = config(successful_fence="none")
    vms = cluster(store, node3.port, cfg)
    before = {n: status(store, u) for n, u in vms.items()}
    monitors("hv1", cfg)
    kill(store, "hv3")
    wait_for("hv3 fenced", lambda: store.read("node.daemon_state", node="hv3") == "fenced")
    wait_for("hv3 powered on again", lambda: len(node3.actions()) == 2)
    assert store.read("node.domain_state", node="hv3") == "ready"
    assert {n: status(store, u) for n, u in vms.items()} == before


def test_an_interrupted_recovery_is_finished_without_a_second_fence(
        store: Store, node3: Node, monitors: Callable[..., FenceMonitor]) -> None:
    cfg = config()
    vms = cluster(store, node3.port, cfg)
    # a fencer powered hv3 off, marked it and died before moving the VMs
    store.txn().set("node.daemon_state", "fenced", node="hv3").set(
        "node.domain_state", "fence-flush", node="hv3").commit()
    monitors("hv2", cfg)
    wait_for("hv3 flushed", lambda: store.read("node.domain_state", node="hv3") == "flushed")
    assert node3.actions() == []
    assert status(store, vms["db"])["node"] in ("hv1", "hv2")


def test_two_dead_nodes_are_fenced_one_at_a_time(
        store: Store, node3: Node, tmp_path: Path,
        monitors: Callable[..., FenceMonitor]) -> None:
    cfg = config()
    cluster(store, node3.port, cfg)
    (tmp_path / "hv2").mkdir()
    node2 = start_bmc(tmp_path / "hv2")
    try:
        store.write("node.ipmi", {"hostname": "127.0.0.1", "username": USER,
                                  "password": PASSWORD, "port": node2.port}, node="hv2")
        monitors("hv1", cfg)
        monitors("hv4", cfg)
        seen: list[int] = []
        stop = threading.Event()

        def sample() -> None:  # how many nodes are off at the same moment
            while not stop.is_set():
                seen.append(sum(n.state.read_text().strip() == "off" for n in (node2, node3)))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        kill(store, "hv2")
        kill(store, "hv3")
        wait_for("both flushed", lambda: [store.read("node.domain_state", node=n)
                                          for n in ("hv2", "hv3")] == ["flushed"] * 2)
        wait_for("both powered on again",
                 lambda: len(node2.actions()) == len(node3.actions()) == 2)
        stop.set()
        sampler.join()
        assert max(seen) == 1  # never both off at once
        assert node2.actions()[1][1] < node3.actions()[0][1]  # hv2 back on before hv3 off
    finally:
        assert node2.pid
        bmc.stop(node2.pid)


def test_a_node_whose_bmc_failed_at_start_is_not_fenced_under_disable_on_ipmi_failure(
        store: Store, node3: Node, monitors: Callable[..., FenceMonitor]) -> None:
    """`fencing.disable_on_ipmi_failure: yes` and a BMC that did not answer when hv3's
    daemon started (its record says so): hv3 dead is a failed fence that powers nothing
    and moves no VM, even with failed_fence: migrate."""
    cfg = config(failed_fence="migrate")
    vms = cluster(store, node3.port, cfg)
    record = store.read("node.ipmi", node="hv3")
    store.write("node.ipmi", {**record, "reachable": False, "fencing": False}, node="hv3")
    before = {n: status(store, u) for n, u in vms.items()}
    monitors("hv1", cfg)
    kill(store, "hv3")
    fault = wait_for("the fault", lambda: store.read("fault", default=None,
                                                     fault="FENCE_FAILED_hv3"))
    assert "disable_on_ipmi_failure" in fault["message"]
    time.sleep(fencing.SAVING_THROWS * INTERVAL + 1)
    assert node3.actions() == []  # the BMC was never asked to do anything
    assert store.read("node.daemon_state", node="hv3") == "dead"
    assert {n: status(store, u) for n, u in vms.items()} == before


def test_the_start_up_check_of_a_nodes_own_bmc(node3: Node) -> None:
    """What a daemon records of its BMC at start: it answers; it does not (fencing stays
    on unless disable_on_ipmi_failure); none configured."""
    base = make_config(fencing={"ipmi": {"hostname": "127.0.0.1", "username": USER,
                                         "password": PASSWORD}})
    assert bmc_check.check_own_bmc(base, "hv3", port=node3.port) == bmc_check.BmcCheck(True, True)
    silent = bmc_check.check_own_bmc(base, "hv3", port=free_udp_port())
    assert (silent.reachable, silent.fencing) == (False, True) and silent.why
    disabled = replace(base, disable_on_ipmi_failure=True)
    assert bmc_check.check_own_bmc(disabled, "hv3", port=free_udp_port()).fencing is False
    none = bmc_check.check_own_bmc(replace(base, ipmi_hostname=""), "hv3")
    assert (none.reachable, none.fencing) == (False, True) and "no BMC" in none.why
    assert node3.actions() == []  # a status read is no power action
