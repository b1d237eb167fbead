"""`wait=true` against a real ZooKeeper: the API answers once a stand-in node daemon (a
thread) reports the outcome; flush/ready writes and waits."""

from __future__ import annotations

import time

import pytest

from pvc.api.vm import control as vm_control
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import client, register_node, standard_cluster
from tests.integration.api.vm.support import (
    API,
    define,
    info,
    later,
    node_started,
    set_running,
    set_status,
    uuid_of,
    vm_cluster,
)

U = uuid_of("vm1")
DELAY = 0.6


def test_start_waits_until_the_vm_runs(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    set_status(store, U, node="hv1")
    later(DELAY, lambda: node_started(store, "hv1", U))
    t0 = time.monotonic()
    r = c.post(f"{API}/vm/vm1/state", params={"state": "start", "wait": "True"})
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 >= DELAY
    assert r.json()["message"] == 'Started VM "vm1" on node "hv1".'
    assert info(c, "vm1")["state"] == "start"


def test_a_domain_seen_running_is_not_a_start_until_the_node_says_so(store: Store) -> None:
    """A QEMU that dies while starting is listed as running for a moment: the wait must
    not take that for a start, and reports the failure that follows."""
    c = vm_cluster(store, "vm1")
    set_status(store, U, node="hv1")
    later(DELAY / 2, lambda: set_running(store, "hv1", [U]))
    later(DELAY, lambda: set_running(store, "hv1", []))
    later(DELAY * 1.5, lambda: set_status(store, U, state="fail",
                                          failed_reason="could not load kernel"))
    r = c.post(f"{API}/vm/vm1/state", params={"state": "start", "wait": "True"})
    assert r.status_code != 200 and "could not load kernel" in r.json()["message"]


def test_shutdown_waits_until_the_vm_is_off(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    set_status(store, U, state="start", node="hv1")
    set_running(store, "hv1", [U])

    def daemon() -> None:
        set_status(store, U, state="stop")
        set_running(store, "hv1", [])

    later(DELAY, daemon)
    t0 = time.monotonic()
    r = c.post(f"{API}/vm/vm1/state", params={"state": "shutdown", "wait": "True"})
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 >= DELAY
    assert r.json()["message"] == 'Shut down VM "vm1".'


def test_migrate_waits_until_the_vm_runs_on_the_target(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    set_status(store, U, state="start", node="hv1")
    set_running(store, "hv1", [U])

    def daemon() -> None:
        set_status(store, U, state="start")  # the target reports the VM received
        set_running(store, "hv1", [])
        set_running(store, "hv3", [U])

    later(DELAY, daemon)
    t0 = time.monotonic()
    r = c.post(f"{API}/vm/vm1/node", params={"action": "migrate", "node": "hv3",
                                              "wait": "true", "force": "false"})
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 >= DELAY
    assert r.json()["message"] == 'Migrated VM "vm1" to node "hv3".'
    vm = info(c, "vm1")
    assert (vm["state"], vm["node"], vm["migrated"]) == ("start", "hv3", "from hv1")


def test_a_failure_while_waiting_is_reported_with_the_reason(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    later(DELAY, lambda: set_status(store, U, state="fail", failed_reason="No bootable disk"))
    r = c.post(f"{API}/vm/vm1/state", params={"state": "start", "wait": "True"})
    assert r.status_code == 502
    assert "No bootable disk" in r.json()["message"]


def test_waiting_times_out_with_a_message(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vm_control, "VM_WAIT", 0.5)
    c = vm_cluster(store, "vm1")
    r = c.post(f"{API}/vm/vm1/state", params={"state": "start", "wait": "True"})
    assert r.status_code == 400
    assert "Timed out" in r.json()["message"] and "start" in r.json()["message"]
    assert info(c, "vm1")["state"] == "start"  # the intent stays


def test_already_and_no_wait_answer_at_once(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    t0 = time.monotonic()
    r = c.post(f"{API}/vm/vm1/state", params={"state": "stop", "wait": "True"})
    assert r.json()["message"] == 'VM "vm1" is already in state stop.'
    r = c.post(f"{API}/vm/vm1/state", params={"state": "start", "wait": "False"})
    assert r.json()["message"] == 'Starting VM "vm1".'
    assert time.monotonic() - t0 < 1.0


def test_flush_and_ready_write_the_domain_state(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    r = c.post(f"{API}/node/hv2/domain-state", params={"state": "flush"})
    assert (r.status_code, r.json()["message"]) == (200, "Removing node hv2 from active service.")
    assert store.read("node.domain_state", node="hv2") == "flush"
    r = c.post(f"{API}/node/hv4/domain-state", data={"action": "ready"})  # alias, in a form
    assert (r.status_code, r.json()["message"]) == (200, "Restoring node hv4 to active service.")
    assert store.read("node.domain_state", node="hv4") == "unflush"
    before = tree.read_all(store)
    for node, state, message in (("hv2", "flush", "Node hv2 is already flushed (or flushing)."),
                                 ("hv1", "ready", "Node hv1 is already ready.")):
        r = c.post(f"{API}/node/{node}/domain-state", params={"state": state, "wait": "True"})
        assert (r.status_code, r.json()["message"]) == (200, message)
    assert tree.read_all(store) == before


def test_domain_state_refusals_change_nothing(store: Store) -> None:
    standard_cluster(store)
    register_node(store, "hv5", mode="hypervisor", daemon_state="stop")
    c = client(store)
    before = tree.read_all(store)
    for node, params, status, words in (
        ("hv1", {}, 400, "'state'"),
        ("hv1", {"state": "drain"}, 400, "'state'"),
        ("hv9", {"state": "flush"}, 404, "hv9"),
        ("Bad_Node", {"state": "flush"}, 400, "node name"),
        ("hv5", {"state": "flush"}, 400, "daemon state stop"),
    ):
        r = c.post(f"{API}/node/{node}/domain-state", params=params)
        assert r.status_code == status, r.text
        assert words in r.json()["message"]
    assert tree.read_all(store) == before


def test_flush_wait_answers_when_the_node_is_flushed(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    later(DELAY, lambda: store.write("node.domain_state", "flushed", node="hv2"))
    t0 = time.monotonic()
    r = c.post(f"{API}/node/hv2/domain-state", params={"state": "flush", "wait": "True"})
    assert (r.status_code, r.json()["message"]) == (200, "Removed node hv2 from active service.")
    assert time.monotonic() - t0 >= DELAY
    later(DELAY, lambda: store.write("node.domain_state", "ready", node="hv2"))
    r = c.post(f"{API}/node/hv2/domain-state", params={"state": "ready", "wait": "True"})
    assert (r.status_code, r.json()["message"]) == (200, "Restored node hv2 to active service.")


def test_flush_wait_reports_a_newer_request(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    later(DELAY, lambda: store.write("node.domain_state", "ready", node="hv3"))
    r = c.post(f"{API}/node/hv3/domain-state", params={"state": "flush", "wait": "True"})
    assert r.status_code == 400
    assert "hv3 is ready" in r.json()["message"] and "newer" in r.json()["message"]


def test_define_then_wait_for_start_by_uuid(store: Store) -> None:
    c = vm_cluster(store)
    define(c, "vm1", node="hv2")
    later(DELAY, lambda: node_started(store, "hv2", U))
    r = c.post(f"{API}/vm/{U}/state", params={"state": "start", "wait": "True"})
    assert (r.status_code, r.json()["message"]) == (200, 'Started VM "vm1" on node "hv2".')
