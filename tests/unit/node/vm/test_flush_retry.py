"""A flush/ready job that a lost ZooKeeper connection interrupts runs again (its watch
does not fire a second time); other failures, and superseded jobs, are not retried."""

from __future__ import annotations

import threading
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


class SeenStatuses:
    """What the VM controller's watches saw: a status and its ZooKeeper version."""

    def __init__(self) -> None:
        self.store, self.node, self.config = None, "hv1", None
        self.version = -1
        self._lock = threading.Lock()
        self._status: dict[str, dict[str, Any]] = {}

    def see(self, state: str, version: int) -> None:
        self._status["u"] = {"state": state, "node": "hv2", "last_node": "hv1"}
        self.version = version

    def seen_version(self, uuid: str) -> int:
        return self.version


def test_an_outcome_is_only_a_status_newer_than_the_intent_written() -> None:
    seen = SeenStatuses()
    fc = FlushController(seen)  # type: ignore[arg-type]
    done = fc._outcome("u", 5)  # our intent was written as version 5
    seen.see("start", 4)  # the cache still shows the status from before our write
    assert not done()
    seen.see("migrate", 5)  # our own write
    assert not done()
    seen.see("migrate", 6)  # still moving (e.g. a newer migration intent)
    assert not done()
    seen.see("start", 7)  # migrated (or back after a failed migration)
    assert done()
    assert fc._outcome("u", None)()  # nothing was written: nothing to wait for


class OneStatus:
    """A store holding one VM status, with compare-and-set writes."""

    def __init__(self, status: dict[str, Any], conflicts: int = 0) -> None:
        self.status, self.version, self.conflicts = status, 3, conflicts
        self.writes: list[dict[str, Any]] = []

    def read_versioned(self, key: str, **params: Any) -> tuple[dict[str, Any], int]:
        return dict(self.status), self.version

    def write(self, key: str, value: Any, version: int = -1, **params: Any) -> None:
        if self.conflicts:
            self.conflicts -= 1
            self.version += 1  # a node wrote an outcome in between
            raise flush.Conflict("changed")
        assert version == self.version
        self.status, self.version = value, self.version + 1
        self.writes.append(value)


def test_a_change_is_derived_from_the_fresh_status_and_skipped_when_no_longer_due() -> None:
    store = OneStatus({"state": "start", "node": "hv2", "last_node": "hv1",
                       "failed_reason": "", "intent": {}}, conflicts=2)
    fc = FlushController(SimpleNamespace(store=store, node="hv1", config=None))  # type: ignore[arg-type]
    version = fc._change("u", lambda s: {"state": "migrate", "node": "hv1",
                                         "intent": {"source": s["node"]}}
                         if s["state"] == "start" else None)
    assert version == store.version == 6  # two conflicts, then written on top of v5
    assert store.writes == [{**store.status}]
    assert store.status["intent"] == {"source": "hv2"} and store.status["node"] == "hv1"
    # the VM was stopped meanwhile: nothing is written, nothing to wait for
    store.status["state"] = "stop"
    assert fc._change("u", lambda s: {"state": "migrate"} if s["state"] == "start"
                      else None) is None
    assert len(store.writes) == 1
