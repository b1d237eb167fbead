"""A flush/ready job that a lost ZooKeeper connection interrupts runs again (its watch
does not fire a second time); other failures, and superseded jobs, are not retried."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pvc.common.errors import BackendError
from pvc.node.vm import flush
from pvc.node.vm.flush import FlushController


def controller() -> FlushController:
    store = SimpleNamespace(zk=SimpleNamespace(connected=True))
    vms: Any = SimpleNamespace(store=store, node="hv1", config=None)
    return FlushController(vms)


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flush.time, "sleep", lambda _s: None)


def test_a_job_interrupted_by_zookeeper_runs_again() -> None:
    fc = controller()
    runs: list[str] = []

    def job(gen: int, state: str) -> None:
        runs.append(state)
        if len(runs) < 3:
            raise BackendError("ZooKeeper read failed: ConnectionLoss()")
    fc._guard(job, fc._gen, "unflush")
    assert runs == ["unflush"] * 3


def test_other_backend_failures_and_superseded_jobs_are_not_retried() -> None:
    fc = controller()
    runs: list[int] = []

    def libvirt_fails(gen: int, state: str) -> None:
        runs.append(gen)
        raise BackendError("libvirt: migration failed")
    fc._guard(libvirt_fails, fc._gen, "flush")
    assert runs == [0]

    def superseded(gen: int, state: str) -> None:
        runs.append(gen)
        fc._gen += 1  # a newer flush or ready arrived meanwhile
        raise BackendError("ZooKeeper read failed: ConnectionLoss()")
    runs.clear()
    fc._guard(superseded, fc._gen, "flush")
    assert runs == [0]


def test_a_job_gives_up_after_its_attempts() -> None:
    fc = controller()
    runs: list[int] = []

    def always(gen: int, state: str) -> None:
        runs.append(gen)
        raise BackendError("ZooKeeper read failed: ConnectionLoss()")
    fc._guard(always, fc._gen, "unflush")
    assert len(runs) == flush.JOB_ATTEMPTS
