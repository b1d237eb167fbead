"""Cluster endpoints against a real ZooKeeper: status, maintenance, primary node, counts."""

from __future__ import annotations

import time

import pytest

from pvc.ops.cluster import faults
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import client, register_node, standard_cluster


def test_status_has_the_fields_real_clients_read(store: Store) -> None:
    standard_cluster(store)
    r = client(store).get("/api/v1/status")
    assert r.status_code == 200
    st = r.json()
    assert st["cluster_name"] == "testcluster"
    assert st["maintenance"] == "false" and st["primary_node"] == "hv1"
    assert st["upstream_ip"] == "10.0.0.250/24" and isinstance(st["pvc_version"], str)
    assert st["cluster_health"] == {"health": 100, "messages": []}
    assert set(st["node_health"]) == {"hv1", "hv2", "hv3", "hv4"}
    assert st["node_health"]["hv1"] == {"health": 100, "messages": []}
    assert st["nodes"] == {"run,ready": 3, "run,flushed": 1, "total": 4}
    assert st["vms"] == {"total": 0} and st["osds"] == {"total": 0}
    for key in ("networks", "pools", "volumes", "snapshots"):
        assert st[key] == 0
    cpu, mem, disk = (st["resources"][k] for k in ("cpu", "memory", "disk"))
    assert cpu["total"] == 8 * 3 + 4 and cpu["load"] == pytest.approx(6.0)
    assert cpu["utilization"] == pytest.approx(100 * 6.0 / 28, abs=0.01)
    assert mem == {
        "total": 64000,
        "used": 16000,
        "free": 48000,
        "allocated": 8192,
        "provisioned": 16384,
        "utilization": 25.0,
    }
    assert disk == {"total": 0, "used": 0, "free": 0, "utilization": 0.0}


def test_status_counts_objects_that_exist(store: Store) -> None:
    standard_cluster(store)
    zk = store.zk
    zk.create("/domains/5d9c0bd4-0000-4000-8000-000000000001", b"vm1")
    zk.create("/domains/5d9c0bd4-0000-4000-8000-000000000001/status", b'{"state": "start"}')
    zk.create("/domains/5d9c0bd4-0000-4000-8000-000000000002", b"vm2")
    zk.create("/domains/5d9c0bd4-0000-4000-8000-000000000002/status", b'{"state": "start"}')
    zk.create("/domains/5d9c0bd4-0000-4000-8000-000000000003", b"vm3")  # no state yet
    zk.create("/networks/100", b"net")
    for pool, vols in (("vms", ["a", "b"]), ("data", ["c"])):
        zk.create(f"/ceph/pools/{pool}")
        zk.create(f"/ceph/volumes/{pool}")
        zk.create(f"/ceph/snapshots/{pool}")
        for vol in vols:
            zk.create(f"/ceph/volumes/{pool}/{vol}")
            zk.create(f"/ceph/snapshots/{pool}/{vol}")
    for snap in ("s1", "s2"):
        zk.create(f"/ceph/snapshots/vms/a/{snap}")
    zk.create("/ceph/snapshots/data/c/s3")
    zk.create("/ceph/osds/0")
    zk.create("/ceph/osds/0/stats", b'{"up": 1, "in": 1}')
    zk.create("/ceph/osds/1")
    zk.create("/ceph/osds/1/stats", b'{"up": 0, "in": 1}')
    zk.create("/ceph/osds/2")
    st = client(store).get("/api/v1/status").json()
    assert st["vms"] == {"start": 2, "total": 3}
    assert (st["networks"], st["pools"], st["volumes"], st["snapshots"]) == (1, 2, 3, 3)
    assert st["osds"] == {"up,in": 1, "down,in": 1, "total": 3}


def test_dead_and_silent_nodes_lower_cluster_health(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1", coordinator_state="primary")
    register_node(store, "hv2", daemon_state="dead", keepalive=time.time() - 300)
    register_node(store, "hv3", keepalive=time.time() - 100)
    register_node(store, "hv4", mode="hypervisor", daemon_state="stop")
    st = client(store).get("/api/v1/status").json()
    health = st["cluster_health"]
    assert health["health"] == 0
    assert [m["id"] for m in health["messages"]] == ["DEAD_NODE_hv2", "DEAD_NODE_hv3"]
    for m in health["messages"]:
        assert isinstance(m["health_delta"], int) and m["health_delta"] == 50
        assert isinstance(m["text"], str) and m["text"]
    assert st["node_health"]["hv2"]["health"] == 0
    assert st["node_health"]["hv3"]["messages"][0].startswith("keepalive: No keepalive")
    assert st["nodes"] == {"run,ready": 2, "dead,ready": 1, "stop,ready": 1, "total": 4}
    # only the live node's capacity counts
    assert st["resources"]["cpu"]["total"] == 8


def test_maintenance_mode_raises_no_live_dead_node(store: Store) -> None:
    """In maintenance no fault arises (as in PVC), not even the live DEAD_NODE of the
    status view; a fault recorded before stays until it is acknowledged or deleted."""
    tree.initialize(store)
    register_node(store, "hv1", coordinator_state="primary")
    register_node(store, "hv2", daemon_state="dead", keepalive=time.time() - 300)
    register_node(store, "hv3", keepalive=time.time() - 100)
    faults.raise_fault(store, "VM_FAILED_web1", 10, "VM web1 failed")
    store.write("config.maintenance", True)
    st = client(store).get("/api/v1/status").json()
    assert st["maintenance"] == "true"
    assert [m["id"] for m in st["cluster_health"]["messages"]] == ["VM_FAILED_web1"]
    assert st["cluster_health"]["health"] == 90
    assert st["node_health"]["hv2"]["health"] == 0  # the node's own health still tells
    store.write("config.maintenance", False)
    st = client(store).get("/api/v1/status").json()
    assert [m["id"] for m in st["cluster_health"]["messages"]] == [
        "DEAD_NODE_hv2", "DEAD_NODE_hv3", "VM_FAILED_web1"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
    ],
)
def test_maintenance_accepts_boolean_spellings(store: Store, value: str, expected: bool) -> None:
    standard_cluster(store)
    store.write("config.maintenance", not expected)
    c = client(store)
    r = c.post("/api/v1/status", params={"state": value})
    assert r.status_code == 200
    assert ("maintenance" if expected else "normal") in r.json()["message"]
    assert store.read("config.maintenance") is expected
    assert c.get("/api/v1/status").json()["maintenance"] == ("true" if expected else "false")


def test_maintenance_from_a_form_body_equals_the_query(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    q = c.post("/api/v1/status", params={"state": "true"})
    after_query = tree.read_all(store)
    store.write("config.maintenance", False)
    f = c.post("/api/v1/status", data={"state": "true"})
    assert (f.status_code, f.json()) == (q.status_code, q.json())
    assert tree.read_all(store) == after_query


@pytest.mark.parametrize("params", [{"state": "maybe"}, {}, {"state": ""}])
def test_maintenance_bad_value_is_400_and_changes_nothing(
    store: Store, params: dict[str, str]
) -> None:
    standard_cluster(store)
    before = tree.read_all(store)
    r = client(store).post("/api/v1/status", params=params)
    assert r.status_code == 400 and "'state'" in r.json()["message"]
    assert tree.read_all(store) == before


def test_multipart_bodies_are_not_taken_as_parameters(store: Store) -> None:
    standard_cluster(store)
    r = client(store).post("/api/v1/status", files={"state": ("state", b"true")})
    assert r.status_code == 400 and "state" in r.json()["message"]
    assert store.read("config.maintenance") is False


def test_primary_node(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    assert c.get("/api/v1/status/primary_node").json() == {"primary_node": "hv1"}
    store.write("config.primary_node", "none")
    r = c.get("/api/v1/status/primary_node")
    assert r.status_code == 200 and r.json() == {"primary_node": None}
    assert c.get("/api/v1/status").json()["primary_node"] == "none"
