"""A PowerDNS that keeps exiting (its database not up yet: PostgreSQL starting after a boot)
is started again after a wait that doubles with each short run, up to 30 s, not every
round; a run that lasted, or the node giving the primary role up, makes the next start
immediate. The "PowerDNS" here is a real process that exits at once with code 1; the
clock is the test's."""

from __future__ import annotations

import copy
import logging
import sys
from pathlib import Path

import pytest
import yaml

from pvc.common import config as configmod
from pvc.common import procs
from pvc.drivers.network import powerdns
from pvc.node.network.dns import MOST_RESTART_WAIT, RESYNC, DnsAggregator
from tests.clock import Clock


@pytest.fixture
def aggregator(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> DnsAggregator:
    raw = copy.deepcopy(yaml.safe_load(configmod.SAMPLE_FILE.read_text()))
    raw["database"]["postgres"]["credentials"]["dns"]["password"] = "s3cr=t"
    raw["path"]["dynamic_directory"] = str(tmp_path / "run")
    raw["path"]["system_log_directory"] = str(tmp_path / "log")
    monkeypatch.setattr(powerdns, "command",
                        lambda cfg: [sys.executable, "-c", "import sys; sys.exit(1)"])
    found = DnsAggregator(configmod.parse(raw))
    found.restarts = procs.Restarts(first=RESYNC, most=MOST_RESTART_WAIT, clock=clock)
    found.want({})
    found._synced = {}  # the (no) zones are in the database already: PowerDNS alone here
    return found


def starts(agg: DnsAggregator) -> int:
    """One round of the aggregator's thread; 1 if it started PowerDNS, after it exited."""
    before = agg.server
    agg._pass()
    started = agg.server is not None and agg.server is not before
    if started:
        assert agg.server is not None and agg.server.proc is not None
        agg.server.proc.wait(10)
    return int(started)


def test_a_powerdns_that_keeps_exiting_is_started_after_a_growing_wait(
        aggregator: DnsAggregator, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pvcnoded")
    assert starts(aggregator) == 1  # the first start is at once
    waits = []
    for _ in range(6):
        assert starts(aggregator) == 0  # it exited: not started in the same round
        waits.append(aggregator.restarts.delay)
        clock.now += aggregator.restarts.delay - 1
        assert starts(aggregator) == 0  # not before its wait is over
        clock.now += 1
        assert starts(aggregator) == 1
    assert waits == [5.0, 10.0, 20.0, 30.0, 30.0, 30.0]
    said = [r.getMessage() for r in caplog.records if "PowerDNS exited" in r.getMessage()]
    assert said[:2] == ["PowerDNS exited (code 1): starting it again in 5 s",
                        "PowerDNS exited (code 1): starting it again in 10 s"]


def test_a_run_that_lasted_or_a_retire_makes_the_next_start_immediate(
        aggregator: DnsAggregator, clock: Clock) -> None:
    assert starts(aggregator) == 1
    assert starts(aggregator) == 0
    clock.now += aggregator.restarts.delay
    assert starts(aggregator) == 1
    clock.now += 61  # this run lasted a minute before it exited: started again at once
    assert starts(aggregator) == 1
    assert aggregator.restarts.delay == 0.0
    assert starts(aggregator) == 0 and aggregator.restarts.delay == 5.0
    # no longer primary, then primary again: PowerDNS starts at once
    aggregator.retire()
    aggregator.want({})
    aggregator._synced = {}
    assert starts(aggregator) == 1


def test_restarts_alone() -> None:
    now = [0.0]
    restarts = procs.Restarts(first=2.0, most=5.0, steady=10.0, clock=lambda: now[0])
    assert restarts.may_start()
    assert restarts.exited() == 0.0  # never started: nothing to hold back
    restarts.started()
    now[0] = 1.0
    assert restarts.exited() == 2.0 and not restarts.may_start()
    now[0] = 3.0
    assert restarts.may_start()
    restarts.started()
    assert restarts.exited() == 4.0
    restarts.started()
    assert restarts.exited() == 5.0  # no more than `most`
    restarts.reset()
    assert restarts.may_start() and restarts.delay == 0.0
