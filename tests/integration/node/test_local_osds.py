"""`LocalOsds` against a real ZooKeeper and real processes (`DirectServices`, here with a
stand-in daemon): a node daemon starts the OSDs recorded on its node, once each, and stops
them when it shuts down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc.node.services import DirectServices
from pvc.node.storage import osds as osds_module
from pvc.node.storage.osds import LocalOsds
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.waiting import wait_until as wait_for

pytestmark = pytest.mark.integration


def record(store: Store, osd: int, node: str) -> None:
    store.txn().create("osd", {"node": node, "device": f"/dev/osd{osd}", "db_device": "",
                               "is_split": False}, osd=str(osd)).commit()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[DirectServices]:
    svc = DirectServices(tmp_path / "run", lambda name: ["sleep", "600"])
    try:
        yield svc
    finally:
        for osd in range(6):
            svc.stop(f"ceph-osd@{osd}", timeout=5)


def test_a_node_runs_its_recorded_osds_once_and_stops_them(store: Store,
                                                           services: DirectServices) -> None:
    tree.initialize(store)
    record(store, 0, "hv1")
    record(store, 1, "hv2")
    record(store, 2, "")  # not placed yet
    osds = LocalOsds(store, "hv1", services)
    osds.start()
    try:
        wait_for("osd.0 started", lambda: services.is_active("ceph-osd@0"))
        assert not services.is_active("ceph-osd@1")  # another node's
        assert not services.is_active("ceph-osd@2")
        record(store, 3, "hv1")  # a new OSD of this node (as pvc-dev records its own)
        wait_for("osd.3 started", lambda: services.is_active("ceph-osd@3"))
        # stopped on purpose (an operator, or osd.remove before the purge): left stopped
        services.stop("ceph-osd@0")
        record(store, 4, "hv2")
        time.sleep(1.0)
        assert not services.is_active("ceph-osd@0") and not services.is_active("ceph-osd@4")
        assert osds.mine == {"0", "3"}
        # a record that goes away (a removed OSD) is forgotten
        store.txn().delete_tree(store.path("osd", osd="3")).commit()
        record(store, 5, "hv1")
        wait_for("osd.5 started", lambda: services.is_active("ceph-osd@5"))
        assert osds.mine == {"0", "5"}
    finally:
        osds.stop()
    assert not services.is_active("ceph-osd@5")  # the daemon's shutdown stops them
    assert services.is_active("ceph-osd@3")  # no longer recorded here: not ours to stop


def test_a_daemon_restart_starts_its_osds_again(store: Store,
                                                services: DirectServices) -> None:
    tree.initialize(store)
    record(store, 0, "hv1")
    first = LocalOsds(store, "hv1", services)
    first.start()
    wait_for("osd.0 started", lambda: services.is_active("ceph-osd@0"))
    first.stop()
    assert not services.is_active("ceph-osd@0")
    again = LocalOsds(store, "hv1", services)
    again.start()
    try:
        wait_for("osd.0 started again", lambda: services.is_active("ceph-osd@0"))
    finally:
        again.stop()


def test_an_osd_recorded_before_it_was_placed_starts_once_placed(
        store: Store, services: DirectServices, monkeypatch: pytest.MonkeyPatch) -> None:
    """The primary may adopt a new OSD before Ceph knows its host (node ""): its node is
    set later, a change of data that no children watch sees; the periodic look finds it."""
    monkeypatch.setattr(osds_module, "RECHECK", 0.3)
    tree.initialize(store)
    record(store, 2, "")
    osds = LocalOsds(store, "hv1", services)
    osds.start()
    try:
        time.sleep(0.6)
        assert not services.is_active("ceph-osd@2")
        store.write("osd", {"node": "hv1", "device": "/dev/osd2", "db_device": "",
                            "is_split": False}, osd="2")
        wait_for("osd.2 started", lambda: services.is_active("ceph-osd@2"), timeout=5)
    finally:
        osds.stop()


def test_a_crashed_osd_is_started_again_until_it_crashes_too_often(
        store: Store, services: DirectServices, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(osds_module, "RECHECK", 0.1)
    tree.initialize(store)
    record(store, 0, "hv1")
    record(store, 1, "hv1")
    osds = LocalOsds(store, "hv1", services)
    osds.start()
    try:
        wait_for("both OSDs started", lambda: services.is_active("ceph-osd@0")
                 and services.is_active("ceph-osd@1"))
        services.stop("ceph-osd@1")  # on purpose: no crash, left stopped
        pids = []
        for _ in range(osds_module.RESTART_BURST):
            pid = services.pid("ceph-osd@0")
            assert pid is not None
            pids.append(pid)
            os.kill(pid, signal.SIGKILL)  # the stand-in daemon this test's control started
            wait_for("osd.0 started again", lambda pid=pid: services.pid("ceph-osd@0")
                     not in (None, pid))
        assert len(set(pids)) == osds_module.RESTART_BURST
        last = services.pid("ceph-osd@0")
        assert last is not None
        os.kill(last, signal.SIGKILL)  # one crash too many within the window: left down
        time.sleep(1.0)
        assert services.crashed("ceph-osd@0") and not services.is_active("ceph-osd@0")
        assert not services.is_active("ceph-osd@1") and not services.crashed("ceph-osd@1")
    finally:
        osds.stop()


class LastingServices(DirectServices):
    """Direct processes that, like systemd's units, are not the node daemon's to stop."""

    outlives_daemon = True


def test_osds_that_outlive_the_daemon_run_on_through_its_restart(
        store: Store, tmp_path: Path) -> None:
    """Under systemd a node daemon restarted (a changed pvc.conf, an upgrade) leaves its
    OSDs running: the same processes before and after, never down."""
    services = LastingServices(tmp_path / "run", lambda name: ["sleep", "600"])
    tree.initialize(store)
    record(store, 0, "hv1")
    try:
        first = LocalOsds(store, "hv1", services)
        first.start()
        wait_for("osd.0 started", lambda: services.is_active("ceph-osd@0"))
        pid = services.pid("ceph-osd@0")
        first.stop()
        assert services.pid("ceph-osd@0") == pid
        again = LocalOsds(store, "hv1", services)
        again.start()
        try:
            time.sleep(1.0)
            assert services.pid("ceph-osd@0") == pid
        finally:
            again.stop()
        assert services.pid("ceph-osd@0") == pid
    finally:
        services.stop("ceph-osd@0", timeout=5)
