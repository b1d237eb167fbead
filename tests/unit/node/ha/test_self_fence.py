"""Self-fencing's decision (pvc.node.ha.self_fence): how long the session has been gone,
whether a ZooKeeper quorum could exist without this node, and what the guard does with
the node's domains; the TCP probe against real local sockets."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections.abc import Iterator

import pytest
import yaml
from kazoo.client import KazooState

from pvc.common import config
from pvc.drivers.hypervisor.libvirt_driver import DomainFigures
from pvc.node.ha import self_fence
from pvc.node.ha.self_fence import Reach, SelfFence, decide, due, quorum_possible_without_me
from tests.clock import Clock
from tests.ports import free_port

O, R, S = Reach.OPEN, Reach.REFUSED, Reach.SILENT  # noqa: E741


def cfg(**changes: object) -> config.Config:
    return dataclasses.replace(config.load(config.SAMPLE_FILE), **changes)  # type: ignore[arg-type]


# -- the rule ---------------------------------------------------------------
def test_default_is_on_and_before_the_cluster_declares_the_node_dead() -> None:
    c = config.load(config.SAMPLE_FILE)
    assert c.suicide_intervals == 3
    assert 0 < c.suicide_intervals < c.fence_intervals
    assert self_fence.margin_warning(c) == ""
    raw = yaml.safe_load(config.SAMPLE_FILE.read_text())
    del raw["fencing"]["intervals"]["suicide_intervals"]
    assert config.parse(raw).suicide_intervals == 3  # the built-in default is the same
    raw["fencing"]["intervals"]["suicide_interval"] = 2  # upstream's singular spelling
    assert config.parse(raw).suicide_intervals == 2


def test_margin_warnings() -> None:
    assert "off" in self_fence.margin_warning(cfg(suicide_intervals=0))
    assert "not below" in self_fence.margin_warning(cfg(suicide_intervals=4))


@pytest.mark.parametrize(("connected", "silent_for", "limit", "expected"), [
    (False, 3.0, 3.0, True),  # exactly the limit
    (False, 10.0, 3.0, True),
    (False, 2.9, 3.0, False),  # not long enough
    (True, 10.0, 3.0, False),  # connected: keepalives just lag
    (False, 10.0, 0.0, False),  # off
])
def test_due(connected: bool, silent_for: float, limit: float, expected: bool) -> None:
    assert due(connected, silent_for, limit) is expected


@pytest.mark.parametrize(("reaches", "expected"), [
    ([S, S, S], True),  # cut off from everything
    ([O, S, S], True),  # only its own (local) server answers: the other two may be a quorum
    ([O, O, S], False),  # a majority answers: no quorum without it
    ([O, R, S], False),  # one server killed, one silent: at most one server elsewhere
    ([R, R, S], False),  # two servers down: no quorum anywhere, an outage
    ([R, R, R], False),
    ([O, O, O], False),  # servers up without a quorum (elections): an outage
    ([S], True),
    ([O], False),
    ([O, S, S, S, O], True),  # 3 of 5 silent
    ([O, O, S, S, O], False),
    ([S, S, O, O], False),  # 4 servers need 3 for a quorum: 2 silent ones can't make one
    ([], False),
])
def test_quorum_possible_without_me(reaches: list[Reach], expected: bool) -> None:
    assert quorum_possible_without_me(reaches) is expected


def test_decide_explains_itself() -> None:
    assert not decide(False, 9, 0, [S, S, S]).fence
    assert "connected" in decide(True, 9, 3, [S, S, S]).reason
    assert not decide(False, 2, 3, [S, S, S]).fence
    assert not decide(False, 9, 3, None).fence
    outage = decide(False, 9, 3, [O, O, R])
    assert not outage.fence and "outage" in outage.reason and "2 open" in outage.reason
    cut = decide(False, 3.5, 3, [O, S, S])
    assert cut.fence and "2 silent" in cut.reason


# -- the guard ----------------------------------------------------------------
class Host:
    """This node's libvirt as the guard sees it (the real one is in the system tests)."""

    def __init__(self, running: list[str]) -> None:
        self.running = set(running)
        self.destroyed: list[str] = []

    def domains(self) -> list[DomainFigures]:
        return [DomainFigures(u, f"vm-{u}", 128, 1, True) for u in sorted(self.running)] + [
            DomainFigures("off", "vm-off", 128, 1, False)]

    def destroy(self, uuid: str) -> None:
        self.destroyed.append(uuid)
        self.running.discard(uuid)


def guard(clock: Clock, host: Host, reaches: list[Reach], state: dict[str, object],
          **changes: object) -> SelfFence:
    probes: list[int] = []
    state.setdefault("connected", True)
    state.setdefault("last_ok", clock.now)

    def prober() -> list[Reach]:
        probes.append(1)
        return list(reaches)
    g = SelfFence("hv3", cfg(**changes), host, lambda: bool(state["connected"]),
                  lambda: float(state["last_ok"]),  # type: ignore[arg-type]
                  prober=prober, clock=clock)
    state["probes"] = probes
    return g


def test_cut_off_node_destroys_every_running_domain(clock: Clock,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    host, state = Host(["a", "b"]), {}  # type: ignore[var-annotated]
    g = guard(clock, host, [O, S, S], state)
    state["connected"] = False
    clock.now += 2.9
    assert not g.check().fence and host.destroyed == []
    assert state["probes"] == []  # not due: no probing either
    clock.now += 0.2
    with caplog.at_level(logging.CRITICAL, "pvcnoded"):
        assert g.check().fence
    assert sorted(host.destroyed) == ["a", "b"]  # not the one that is off
    assert "Self-fenced VM vm-a" in caplog.text
    # a domain that appears while still cut off (an incoming migration that completed,
    # a start already under way) is destroyed at the next check
    host.running.add("c")
    clock.now += 0.25
    assert g.check().fence and host.destroyed[-1] == "c"
    assert g.fenced == {"a": "vm-a", "b": "vm-b", "c": "vm-c"}
    # the session comes back: nothing is started here by the guard; it only says so
    state["connected"] = True
    with caplog.at_level(logging.WARNING, "pvcnoded"):
        assert not g.check().fence
    assert "records decide" in caplog.text and g.fenced == {}
    assert host.running == set()


def test_zookeeper_outage_keeps_vms(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    host, state = Host(["a"]), {}  # type: ignore[var-annotated]
    g = guard(clock, host, [O, R, R], state)  # two servers killed, the local one answers
    state["connected"] = False
    with caplog.at_level(logging.WARNING, "pvcnoded"):
        for _ in range(40):
            clock.now += 0.25
            assert not g.check().fence
    assert host.destroyed == [] and host.running == {"a"}
    assert caplog.text.count("Not self-fencing") == 1  # said once per outage


def test_silence_counts_from_the_last_keepalive_or_reconnect(clock: Clock) -> None:
    host, state = Host(["a"]), {}  # type: ignore[var-annotated]
    g = guard(clock, host, [S, S, S], state)
    clock.now += 10  # connected all along, keepalives lagging
    assert not g.check().fence
    state["last_ok"] = clock.now
    state["connected"] = False
    clock.now += 2
    g.on_session(KazooState.CONNECTED)  # a short reconnect (without a keepalive) ...
    clock.now += 2  # ... then lost again: 2 s since it, 4 s since the last keepalive
    assert not g.check().fence and host.destroyed == []
    clock.now += 1.0
    assert g.check().fence and host.destroyed == ["a"]


def test_off_never_probes_nor_starts_a_thread(clock: Clock) -> None:
    host, state = Host(["a"]), {}  # type: ignore[var-annotated]
    g = guard(clock, host, [S, S, S], state, suicide_intervals=0)
    state["connected"] = False
    clock.now += 100
    assert not g.check().fence and state["probes"] == [] and host.destroyed == []
    g.start()
    assert not g._thread.is_alive()
    g.stop()


def test_thread_acts_within_its_period_and_stops(clock: Clock) -> None:
    host = Host(["a"])
    real = SelfFence("hv3", cfg(keepalive_interval=0.1), host, lambda: False, lambda: 0.0,
                     prober=lambda: [S, S, S])  # 3 x 0.1 s after it starts
    real.start()
    try:
        for _ in range(200):
            if host.destroyed:
                break
            real._stop.wait(0.05)
    finally:
        real.stop()
    assert host.destroyed == ["a"] and not real._thread.is_alive()


# -- the probe ----------------------------------------------------------------
@pytest.fixture
def listener() -> Iterator[int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture
def mute() -> Iterator[int]:
    """A server that answers nothing: its backlog is full, so SYNs are dropped."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port: int = srv.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    yield port
    filler.close()
    srv.close()


def test_probe_open_refused_silent(listener: int, mute: int) -> None:
    assert self_fence.probe("127.0.0.1", listener, 1.0) == O
    assert self_fence.probe("127.0.0.1", free_port(), 1.0) == R
    assert self_fence.probe("127.0.0.1", mute, 0.3) == S
    # bound to a device that is not there: still probed (unbound), still an answer
    assert self_fence.probe("127.0.0.1", listener, 1.0, device="nosuchdev0") == O


def test_probe_all_runs_in_parallel(listener: int, mute: int) -> None:
    started = time.monotonic()
    got = self_fence.probe_all([("127.0.0.1", listener), ("127.0.0.1", mute),
                                ("127.0.0.1", mute), ("127.0.0.1", free_port())], 0.5)
    assert got == [O, S, S, R]
    assert time.monotonic() - started < 1.4  # not 2 x 0.5 s one after the other
