"""Cluster faults against a real ZooKeeper: raise/refresh, acknowledge, delete through the
API; maintenance; the health figure; bad IDs; the primary's fault monitor; migration."""

from __future__ import annotations

import time

import pytest
from kazoo.client import KazooClient

from pvc.common.errors import InvalidArgument
from pvc.node.ha import fault_monitor
from pvc.node.ha.fault_monitor import FaultMonitor
from pvc.ops.cluster import faults
from pvc.state import migrations, tree
from pvc.state.schema import SCHEMAS
from pvc.state.store import Store
from tests.integration.api.support import client, make_config, register_node, standard_cluster

VM1 = "5d9c0bd4-0000-4000-8000-000000000001"
VM2 = "5d9c0bd4-0000-4000-8000-000000000002"


def test_raise_creates_then_refreshes_and_keeps_the_acknowledgement(store: Store) -> None:
    standard_cluster(store)
    assert faults.raise_fault(store, "DEAD_NODE_hv2", 50, "Node hv2 was dead") is True
    first = faults.get_fault(store, "DEAD_NODE_hv2")
    assert (first.status, first.health_delta, first.acknowledged_at) == ("new", 50, "")
    assert first.first_reported == first.last_reported
    faults.acknowledge(store, "DEAD_NODE_hv2")
    acked = faults.get_fault(store, "DEAD_NODE_hv2")
    assert acked.status == "ack" and acked.acknowledged_at
    time.sleep(0.01)
    assert faults.raise_fault(store, "DEAD_NODE_hv2", 40, "Node hv2 was fenced") is True
    again = faults.get_fault(store, "DEAD_NODE_hv2")
    assert again.status == "ack" and again.acknowledged_at == acked.acknowledged_at
    assert again.first_reported == first.first_reported
    assert again.last_reported > first.last_reported
    assert (again.health_delta, again.message) == (40, "Node hv2 was fenced")
    assert faults.fault_ids(store) == ["DEAD_NODE_hv2"]


def test_maintenance_suppresses_new_faults_and_refreshes(store: Store) -> None:
    standard_cluster(store)
    faults.raise_fault(store, "VM_FAILED_web1", 10, "VM web1 was failed")
    before = tree.read_all(store)
    store.write("config.maintenance", True)
    assert faults.raise_fault(store, "DEAD_NODE_hv3", 50, "x") is False
    assert faults.raise_fault(store, "VM_FAILED_web1", 10, "again") is False
    store.write("config.maintenance", False)
    assert tree.read_all(store) == before  # nothing raised, nothing refreshed
    store.write("config.maintenance", True)
    assert faults.fault_ids(store) == ["VM_FAILED_web1"]
    store.write("config.maintenance", False)
    assert faults.raise_fault(store, "DEAD_NODE_hv3", 50, "x") is True


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "DEAD NODE", "x" * 129, "_x", "é"])
def test_bad_ids_are_refused_and_change_nothing(store: Store, bad: str) -> None:
    standard_cluster(store)
    faults.raise_fault(store, "DEAD_NODE_hv2", 50, "m")
    before = tree.read_all(store)
    with pytest.raises(InvalidArgument):
        faults.raise_fault(store, bad, 10, "m")
    c = client(store)
    if bad and "/" not in bad:
        for method in ("GET", "PUT", "DELETE"):
            r = c.request(method, f"/api/v1/faults/{bad}")
            assert r.status_code == 400, (method, bad, r.text)
            assert "fault ID" in r.json()["message"]
    assert tree.read_all(store) == before


def test_bad_deltas_and_messages_are_refused(store: Store) -> None:
    standard_cluster(store)
    for delta in (-1, 101, True):
        with pytest.raises(InvalidArgument):
            faults.raise_fault(store, "X_1", delta, "m")
    with pytest.raises(InvalidArgument):
        faults.raise_fault(store, "X_1", 1, "m" * (faults.MAX_MESSAGE + 1))
    assert faults.fault_ids(store) == []


def test_api_list_get_ack_delete(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    assert c.get("/api/v1/faults").json() == []
    faults.raise_fault(store, "VM_FAILED_web1", 10, "VM web1 was failed")
    time.sleep(0.01)
    faults.raise_fault(store, "DEAD_NODE_hv2", 50, "Node hv2 was dead")
    r = c.get("/api/v1/faults", params={"sort_key": "last_reported"})
    assert r.status_code == 200
    listed = r.json()
    assert [f["id"] for f in listed] == ["DEAD_NODE_hv2", "VM_FAILED_web1"]  # newest first
    assert set(listed[0]) == {"id", "status", "health_delta", "first_reported",
                              "last_reported", "acknowledged_at", "message"}
    assert listed[0]["health_delta"] == 50 and listed[0]["acknowledged_at"] == ""
    assert listed[0]["status"] == "new" and listed[0]["message"] == "Node hv2 was dead"
    by_message = c.get("/api/v1/faults", params={"sort_key": "message"}).json()
    assert [f["id"] for f in by_message] == ["DEAD_NODE_hv2", "VM_FAILED_web1"]
    by_delta = c.get("/api/v1/faults?sort_key=health_delta").json()
    assert [f["health_delta"] for f in by_delta] == [50, 10]
    r = c.get("/api/v1/faults", params={"sort_key": "nonsense"})
    assert r.status_code == 400 and "sort_key" in r.json()["message"]

    one = c.get("/api/v1/faults/VM_FAILED_web1")
    assert one.status_code == 200 and [f["id"] for f in one.json()] == ["VM_FAILED_web1"]

    r = c.put("/api/v1/faults/VM_FAILED_web1")
    assert r.status_code == 200 and "VM_FAILED_web1" in r.json()["message"]
    acked = c.get("/api/v1/faults/VM_FAILED_web1").json()[0]
    assert acked["status"] == "ack" and acked["acknowledged_at"]
    # the acknowledged fault no longer counts in the cluster health
    health = c.get("/api/v1/status").json()["cluster_health"]
    assert health["health"] == 50
    assert [m["id"] for m in health["messages"]] == ["DEAD_NODE_hv2"]

    r = c.put("/api/v1/faults")
    assert r.status_code == 200
    assert {f["status"] for f in c.get("/api/v1/faults").json()} == {"ack"}
    assert c.get("/api/v1/faults/VM_FAILED_web1").json()[0]["acknowledged_at"] == \
        acked["acknowledged_at"]  # a second acknowledgement keeps the first time
    assert c.get("/api/v1/status").json()["cluster_health"] == {"health": 100, "messages": []}

    r = c.delete("/api/v1/faults/DEAD_NODE_hv2")
    assert r.status_code == 200
    assert [f["id"] for f in c.get("/api/v1/faults").json()] == ["VM_FAILED_web1"]
    faults.raise_fault(store, "CEPH_WARN_OSD_DOWN", 10, "1 osds down")
    r = c.delete("/api/v1/faults")
    assert r.status_code == 200 and c.get("/api/v1/faults").json() == []


def test_unknown_fault_is_404_and_changes_nothing(store: Store) -> None:
    standard_cluster(store)
    faults.raise_fault(store, "DEAD_NODE_hv2", 50, "m")
    before = tree.read_all(store)
    c = client(store)
    for method in ("GET", "PUT", "DELETE"):
        r = c.request(method, "/api/v1/faults/VM_FAILED_nope")
        assert r.status_code == 404, method
        assert r.json()["message"] == "No fault with ID 'VM_FAILED_nope' exists"
    assert tree.read_all(store) == before
    # acknowledging or deleting all of nothing is fine
    store.txn().delete("fault", fault="DEAD_NODE_hv2").commit()
    assert c.put("/api/v1/faults").status_code == 200
    assert c.delete("/api/v1/faults").status_code == 200


def test_health_is_clamped_and_messages_are_by_delta(store: Store) -> None:
    standard_cluster(store)
    for i in range(3):
        faults.raise_fault(store, f"CEPH_ERR_CHECK{i}", 50, f"check {i}")
    faults.raise_fault(store, "VM_FAILED_a", 10, "VM a was failed")
    health = client(store).get("/api/v1/status").json()["cluster_health"]
    assert health["health"] == 0
    assert [m["health_delta"] for m in health["messages"]] == [50, 50, 50, 10]
    assert health["messages"][-1] == {"id": "VM_FAILED_a", "health_delta": 10,
                                      "text": "VM a was failed"}
    assert faults.health(faults.list_faults(store)) == 0


def test_a_recorded_dead_node_fault_replaces_the_live_one(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1", coordinator_state="primary")
    register_node(store, "hv2", daemon_state="dead", keepalive=time.time() - 300)
    c = client(store)
    live = c.get("/api/v1/status").json()["cluster_health"]
    assert [m["id"] for m in live["messages"]] == ["DEAD_NODE_hv2"] and live["health"] == 50
    faults.raise_fault(store, "DEAD_NODE_hv2", 50, "Node hv2 was dead and/or fenced")
    stored = c.get("/api/v1/status").json()["cluster_health"]
    assert stored["messages"] == [{"id": "DEAD_NODE_hv2", "health_delta": 50,
                                   "text": "Node hv2 was dead and/or fenced"}]
    faults.acknowledge(store, "DEAD_NODE_hv2")
    assert c.get("/api/v1/status").json()["cluster_health"] == {"health": 100, "messages": []}


def _vm(store: Store, uuid: str, name: str, state: str, reason: str = "") -> None:
    (store.txn().create("domain", name, domain=uuid)
     .create("domain.status", {"state": state, "node": "hv1", "failed_reason": reason},
             domain=uuid)
     .commit())


def test_monitor_raises_dead_node_and_failed_vm(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1", coordinator_state="primary")
    register_node(store, "hv2", daemon_state="dead", keepalive=time.time() - 300)
    register_node(store, "hv3", daemon_state="fenced", keepalive=time.time() - 300)
    register_node(store, "hv4", mode="hypervisor", coordinator_state="client")
    _vm(store, VM1, "web1", "fail", "libvirt refused the XML")
    _vm(store, VM2, "web2", "start")
    config = make_config()
    raised = fault_monitor.run_once(store, config)
    assert sorted(raised) == ["DEAD_NODE_hv2", "DEAD_NODE_hv3", "VM_FAILED_web1"]
    dead = faults.get_fault(store, "DEAD_NODE_hv2")
    assert dead.health_delta == 50 and dead.status == "new"
    vm = faults.get_fault(store, "VM_FAILED_web1")
    assert vm.health_delta == 10 and "libvirt refused the XML" in vm.message
    # a second round refreshes, it does not duplicate
    first_seen = dead.last_reported
    time.sleep(0.01)
    fault_monitor.run_once(store, config)
    assert faults.fault_ids(store) == ["DEAD_NODE_hv2", "DEAD_NODE_hv3", "VM_FAILED_web1"]
    assert faults.get_fault(store, "DEAD_NODE_hv2").last_reported > first_seen
    # nothing in maintenance mode
    faults.delete_all(store)
    store.write("config.maintenance", True)
    assert fault_monitor.run_once(store, config) == []
    assert faults.fault_ids(store) == []


def test_monitor_ceph_and_memory_faults(store: Store) -> None:
    tree.initialize(store)
    mem = {"total": 16000, "used": 4000, "free": 12000, "allocated": 9000, "provisioned": 9000}
    register_node(store, "hv1", coordinator_state="primary", memory=mem)
    register_node(store, "hv2", memory=mem)
    (store.txn().create("osd", {"node": "hv1"}, osd="0")
     .create("osd.stats", {"up": 1, "in": 1}, osd="0")
     .create("osd", {"node": "hv2"}, osd="1")
     .create("osd.stats", {"up": 0, "in": 0}, osd="1").commit())
    store.write("ceph.health", {"status": "HEALTH_WARN",
                                "checks": {"OSD_DOWN": "1 osds down"}})
    detected = {d.id: d for d in fault_monitor.detect(store, make_config())}
    assert set(detected) == {"CEPH_OSD_OUT_1", "CEPH_WARN_OSD_DOWN", "MEMORY_OVERPROVISIONED"}
    assert detected["CEPH_OSD_OUT_1"].delta == 50
    assert detected["CEPH_WARN_OSD_DOWN"].delta == 10
    assert "1 osds down" in detected["CEPH_WARN_OSD_DOWN"].message
    assert detected["MEMORY_OVERPROVISIONED"].delta == 50
    store.write("ceph.health", {"status": "HEALTH_ERR", "checks": {"MON_DOWN": "1 mon down"}})
    ids = {d.id: d.delta for d in fault_monitor.detect(store, make_config())}
    assert ids["CEPH_ERR_MON_DOWN"] == 50 and "CEPH_WARN_OSD_DOWN" not in ids
    store.write("ceph.health", {"status": "HEALTH_OK", "checks": {}})
    lighter = {"total": 16000, "used": 4000, "free": 12000, "allocated": 4000,
               "provisioned": 4000}
    store.write("node.stats", {"load": 1.0, "memory": lighter}, node="hv1")
    store.write("node.stats", {"load": 1.0, "memory": lighter}, node="hv2")
    assert {d.id for d in fault_monitor.detect(store, make_config())} == {"CEPH_OSD_OUT_1"}


def test_monitor_thread_acts_only_on_the_primary(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1", coordinator_state="primary")
    register_node(store, "hv2", daemon_state="dead", keepalive=time.time() - 300)
    primary = {"yes": False}
    monitor = FaultMonitor(store, make_config(), lambda: primary["yes"], interval=0.05)
    assert make_config().monitoring_interval == 15  # PVC's default when not configured
    monitor.start()
    try:
        time.sleep(0.3)
        assert faults.fault_ids(store) == []
        primary["yes"] = True
        deadline = time.monotonic() + 5
        while "DEAD_NODE_hv2" not in faults.fault_ids(store) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "DEAD_NODE_hv2" in faults.fault_ids(store)
    finally:
        monitor.stop()


def test_migration_from_v4_keeps_the_tree_and_enables_faults(zk: KazooClient) -> None:
    old = Store(zk, SCHEMAS[4])
    tree.initialize(old, schema=SCHEMAS[4])
    new = Store(zk, SCHEMAS[5])
    assert migrations.migrate(new, 5) == 5
    assert new.read("schema.version") == 5
    assert faults.raise_fault(new, "DEAD_NODE_hv2", 50, "m") is True
    assert faults.list_faults(new)[0].id == "DEAD_NODE_hv2"
