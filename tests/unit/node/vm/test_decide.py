"""The node's decision table for one VM, and the keyed work queue."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from pvc.node.vm.decide import Act, decide, should_run_here
from pvc.node.workqueue import WorkQueue


def st(state: str, node: str = "hv1", source: str = "") -> dict[str, Any]:
    return {"state": state, "node": node, "last_node": "", "failed_reason": "",
            "intent": {"source": source} if source else {}}


@pytest.mark.parametrize(("status", "running", "act"), [
    (None, True, Act.STRAY), (None, False, Act.NOTHING),
    (st("start"), False, Act.START), (st("start"), True, Act.NOTHING),
    (st("start", "hv2"), True, Act.STRAY), (st("start", "hv2"), False, Act.NOTHING),
    (st("restart"), True, Act.RESTART), (st("restart"), False, Act.START),
    (st("shutdown"), True, Act.SHUTDOWN), (st("shutdown"), False, Act.FINISH_STOP),
    (st("stop"), True, Act.DESTROY), (st("stop"), False, Act.NOTHING),
    (st("disable"), True, Act.POWER_OFF), (st("disable"), False, Act.NOTHING),
    (st("fail"), False, Act.NOTHING), (st("provision"), False, Act.NOTHING),
    # migrations: the source acts, the target waits, anyone else removes strays
    (st("migrate", "hv2", "hv1"), True, Act.MIGRATE_OUT),
    (st("migrate", "hv2", "hv1"), False, Act.HAND_OVER),
    (st("unmigrate", "hv2", "hv1"), True, Act.MIGRATE_OUT),
    (st("migrate", "hv1", "hv2"), False, Act.NOTHING),
    (st("migrate", "hv1", "hv2"), True, Act.NOTHING),
    (st("migrate", "hv3", "hv2"), True, Act.STRAY),
    (st("migrate", "hv3", "hv2"), False, Act.NOTHING),
])
def test_decide(status: dict[str, Any] | None, running: bool, act: Act) -> None:
    assert decide("hv1", status, running).act == act


def test_should_run_here() -> None:
    assert should_run_here("hv1", st("start"))
    assert not should_run_here("hv1", st("start", "hv2"))
    assert not should_run_here("hv1", st("stop"))
    assert should_run_here("hv1", st("migrate", "hv2", "hv1"))
    assert should_run_here("hv2", st("migrate", "hv2", "hv1"))
    assert not should_run_here("hv1", None)


def test_workqueue_never_runs_a_key_twice_at_once_and_misses_nothing() -> None:
    running: dict[str, int] = {}
    overlap: list[str] = []
    calls: list[str] = []
    lock = threading.Lock()

    def handler(key: str) -> None:
        with lock:
            running[key] = running.get(key, 0) + 1
            if running[key] > 1:
                overlap.append(key)
            calls.append(key)
        time.sleep(0.05)
        with lock:
            running[key] -= 1

    q = WorkQueue(handler, workers=4, name="t")
    q.start()
    for _ in range(5):
        q.add("a")
        q.add("b")
        time.sleep(0.01)
    deadline = time.monotonic() + 5
    while not q.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    q.stop()
    assert not overlap
    # each key handled at least twice (the adds while it ran were not lost), never 5+ times
    assert 2 <= calls.count("a") <= 4 and 2 <= calls.count("b") <= 4
