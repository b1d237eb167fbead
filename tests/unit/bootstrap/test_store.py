"""The bootstrap daemon's record (real SQLite files): stages only go forward, failing is
final until a reset, every change is an event in order, and a reopened record is where
the last one stopped (what a restarted daemon resumes from)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvc.bootstrap import stages
from pvc.bootstrap.store import Store
from pvc.common.errors import InvalidArgument, NotFound

HV1 = ("hv1", "52:54:00:aa:00:01", True, "")
HV2 = ("hv2", "52:54:00:aa:00:02", False, "52:54:00:bb:00:02")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "state.sqlite")
    assert s.ensure_cluster("c1", [HV1, HV2]) == ["hv1", "hv2"]
    return s


def test_nodes_start_waiting_and_are_found_by_either_mac(store: Store) -> None:
    assert store.clusters() == {"c1": "provisioning"}
    assert [(n.hostname, n.stage, n.redfish) for n in store.nodes("c1")] == [
        ("hv1", "waiting", True), ("hv2", "waiting", False)]
    found = store.node_by_mac("52:54:00:bb:00:02")
    assert found is not None and found.hostname == "hv2"
    found = store.node_by_mac("52:54:00:aa:00:01")
    assert found is not None and found.hostname == "hv1"
    assert store.node_by_mac("52:54:00:cc:00:01") is None


def test_stages_only_go_forward_and_failing_is_final_until_a_reset(store: Store) -> None:
    assert store.advance_node("c1", "hv2", "pxe-booting", stages.BEGIN, "m1")
    assert store.advance_node("c1", "hv2", "installed", stages.SUCCESS, "m2")
    # a late or repeated check-in changes nothing and records nothing
    assert not store.advance_node("c1", "hv2", "installing", stages.BEGIN, "late")
    assert not store.advance_node("c1", "hv2", "installed", stages.SUCCESS, "again")
    assert store.advance_node("c1", "hv2", stages.FAILED, stages.FAILURE, "broke")
    assert not store.advance_node("c1", "hv2", "booted-initial", stages.SUCCESS, "after")
    assert not store.advance_node("c1", "hv2", stages.FAILED, stages.FAILURE, "twice")
    assert [(e.stage, e.message) for e in store.events()] == [
        ("pxe-booting", "m1"), ("installed", "m2"), (stages.FAILED, "broke")]
    store.reset_node("c1", "hv2")
    assert store.node("c1", "hv2").stage == "waiting"
    assert store.advance_node("c1", "hv2", "pxe-booting", stages.BEGIN, "again")
    with pytest.raises(InvalidArgument, match="unknown stage 'rebooted'"):
        store.advance_node("c1", "hv2", "rebooted", stages.INFO, "")
    with pytest.raises(NotFound):
        store.advance_node("c1", "hv9", "installed", stages.INFO, "")


def test_a_reopened_record_resumes_where_it_stopped(tmp_path: Path, store: Store) -> None:
    store.advance_node("c1", "hv2", "installing", stages.BEGIN, "m")
    store.update_node("c1", "hv2", facts={"model": "QEMU"}, node_ip="10.199.0.101")
    store.close()
    again = Store(tmp_path / "state.sqlite")
    # the repository read again: nothing is added, and nobody starts over
    assert again.ensure_cluster("c1", [HV1, HV2]) == []
    hv2 = again.node("c1", "hv2")
    assert (hv2.stage, hv2.node_ip, hv2.facts) == ("installing", "10.199.0.101",
                                                    {"model": "QEMU"})
    assert [e.message for e in again.events()] == ["m"]


def test_macs_belong_to_one_node(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="BMC 52:54:00:aa:00:01 of c2/hv9 is already "
                       "c1/hv1's"):
        store.ensure_cluster("c2", [("hv9", "52:54:00:aa:00:01", True, "")])
    with pytest.raises(InvalidArgument, match="NIC 52:54:00:bb:00:02 of c2/hv9 is already"):
        store.ensure_cluster("c2", [("hv9", "52:54:00:aa:00:09", False, "52:54:00:bb:00:02")])
    # neither refused change left anything behind (one transaction each)
    assert store.clusters() == {"c1": "provisioning"}
    # a NIC given later is recorded for the node that has it now
    store.ensure_cluster("c1", [(*HV1[:3], "52:54:00:bb:00:01"), HV2])
    found = store.node_by_mac("52:54:00:bb:00:01")
    assert found is not None and found.hostname == "hv1"
    with pytest.raises(InvalidArgument, match="cannot set stage"):
        store.update_node("c1", "hv1", stage="completed")


def test_a_cluster_goes_through_its_stages_once(store: Store) -> None:
    assert store.advance_cluster("c1", "ansible-running", stages.BEGIN, "ansible")
    assert not store.advance_cluster("c1", "provisioning", stages.INFO, "back")
    assert store.cluster_stage("c1") == "ansible-running"
    assert [(e.hostname, e.stage) for e in store.events(cluster="c1")] == [
        ("", "ansible-running")]


def test_a_failed_cluster_goes_back_to_the_step_it_failed_in(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="cluster c1 is provisioning, not failed"):
        store.reset_cluster("c1")
    with pytest.raises(NotFound, match="cluster c9 is not known"):
        store.reset_cluster("c9")
    store.advance_cluster("c1", "ansible-running", stages.BEGIN, "ansible")
    store.advance_cluster("c1", stages.FAILED, stages.FAILURE, "ansible failed")
    assert store.reset_cluster("c1") == "ansible-running"
    assert store.cluster_stage("c1") == "ansible-running"
    store.advance_cluster("c1", "hooks-running", stages.BEGIN, "hooks")
    store.advance_cluster("c1", stages.FAILED, stages.FAILURE, "a hook failed")
    assert store.reset_cluster("c1") == "hooks-running"
    assert store.cluster_stage("c1") == "hooks-running"
    # a reset is an event of the cluster's, and a cluster under way is not reset
    assert store.events(cluster="c1")[-1].message == (
        "cluster c1: reset by the operator; hooks-running again")
    with pytest.raises(InvalidArgument, match="only a failed cluster starts over"):
        store.reset_cluster("c1")
