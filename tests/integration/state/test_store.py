"""The state layer against a real ZooKeeper: schema tree, typed reads, compare-and-set,
atomic multi-key transactions, migrations, backup and restore."""

from __future__ import annotations

import json

import pytest
from kazoo.client import KazooClient

from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, InvalidState, NotFound
from pvc.state import migrations, tree
from pvc.state.schema import CURRENT, LATEST, SCHEMAS
from pvc.state.store import Store


def register_node(store: Store, name: str) -> None:
    txn = store.txn()
    for key in store.schema.object_keys("node"):
        txn.create(key.name, key.default, node=name)
    txn.commit()


def test_initialize_creates_every_root_key(store: Store) -> None:
    tree.initialize(store)
    assert store.read("schema.version") == LATEST
    assert store.read("config.maintenance") is False
    assert store.read("config.primary_node") == "none"
    for key in CURRENT.root_keys():
        assert store.zk.exists(key.template), key.template
    with pytest.raises(InvalidState):
        tree.initialize(store)


def test_initialize_overwrite_wipes_everything(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1")
    store.write("config.maintenance", True)
    tree.initialize(store, overwrite=True)
    assert store.children("root.nodes") == []
    assert store.read("config.maintenance") is False


def test_typed_values_round_trip(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1")
    store.txn().set("node.stats", {"load": 0.5, "memory": {"total": 1024}}, node="hv1").set(
        "node.keepalive", 1700000000.25, node="hv1"
    ).commit()
    assert store.read("node.stats", node="hv1") == {"load": 0.5, "memory": {"total": 1024}}
    assert store.read("node.keepalive", node="hv1") == 1700000000.25
    assert store.read("node.daemon_state", node="hv1") == "stop"
    values = store.read_many([("node.domain_state", {"node": "hv1"}),
                              ("node.domain_state", {"node": "hv9"})])
    assert values == ["ready", None]


def test_unknown_and_unsafe_names_never_reach_zookeeper(store: Store) -> None:
    tree.initialize(store)
    for bad in ("../config", "hv1/x", "HV1", "", "a" * 40):
        with pytest.raises(InvalidArgument):
            store.read("node.daemon_state", node=bad)
    with pytest.raises(NotFound):
        store.read("node.daemon_state", node="hv7")


def test_compare_and_set_refuses_a_stale_version(store: Store) -> None:
    tree.initialize(store)
    value, version = store.read_versioned("config.primary_node")
    assert value == "none"
    store.write("config.primary_node", "hv1", version=version)
    with pytest.raises(Conflict):
        store.write("config.primary_node", "hv2", version=version)
    assert store.read("config.primary_node") == "hv1"


def test_failed_transaction_changes_nothing(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1")
    txn = store.txn().set("node.daemon_state", "run", node="hv1")
    txn.set("config.maintenance", True).create("node", "hypervisor", node="hv1")
    with pytest.raises(AlreadyExists):
        txn.commit()
    assert store.read("node.daemon_state", node="hv1") == "stop"
    assert store.read("config.maintenance") is False


def test_migration_from_v1_to_v2_moves_and_adds_keys(zk: KazooClient) -> None:
    old = Store(zk, SCHEMAS[1])
    tree.initialize(old, schema=SCHEMAS[1])
    for name, state in (("hv1", "primary"), ("hv2", "secondary")):
        txn = old.txn()
        for key in SCHEMAS[1].object_keys("node"):
            txn.create(key.name, key.default, node=name)
        txn.commit()
        old.write("node.router_state", state, node=name)
    assert migrations.current_version(old) == 1
    assert not zk.exists("/config/primary_request")

    new = Store(zk, SCHEMAS[2])
    assert migrations.migrate(new, 2) == 2
    assert new.read("schema.version") == 2
    assert new.read("node.coordinator_state", node="hv1") == "primary"
    assert new.read("node.coordinator_state", node="hv2") == "secondary"
    assert not zk.exists("/nodes/hv1/router_state")
    assert new.read("config.primary_request") == {}
    # applying again is a no-op; a newer tree than the software is refused
    assert migrations.migrate(new, 2) == 2
    with pytest.raises(InvalidState):
        migrations.migrate(new, 1)


def test_ensure_initializes_then_is_idempotent(store: Store) -> None:
    assert tree.ensure(store, "test") == LATEST
    before = tree.read_all(store)
    assert tree.ensure(store, "test") == LATEST
    assert tree.read_all(store) == before


def test_backup_restore_round_trip_is_byte_equal(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1")
    register_node(store, "hv2")
    store.write("node.static", {"cpu_count": 2, "kernel": "6.1"}, node="hv1")
    store.zk.create("/domains/odd", b"\xff\xfe binary")
    saved = tree.read_all(store)
    dump = json.dumps(tree.backup(store))

    # change, add and remove keys, then restore
    store.write("config.maintenance", True)
    register_node(store, "hv3")
    store.zk.delete("/nodes/hv2", recursive=True)
    store.zk.set("/domains/odd", b"changed")
    assert tree.read_all(store) != saved

    count = tree.restore(store, dump)
    assert count == len(saved)
    assert tree.read_all(store) == saved


def test_restore_refuses_other_schema_version_and_garbage(store: Store) -> None:
    tree.initialize(store)
    data = tree.backup(store)
    before = tree.read_all(store)
    data["schema_version"] = LATEST + 1
    with pytest.raises(InvalidState):
        tree.restore(store, data)
    with pytest.raises(InvalidArgument):
        tree.restore(store, "not json")
    with pytest.raises(InvalidArgument):
        tree.restore(store, {"format": "something else"})
    bad = tree.backup(store)
    bad["keys"]["/orphan/child"] = "x"
    with pytest.raises(InvalidArgument):
        tree.restore(store, bad)
    assert tree.read_all(store) == before


def test_migration_to_v3_adds_the_vm_name_index(zk: KazooClient) -> None:
    old = Store(zk, SCHEMAS[2])
    tree.initialize(old, schema=SCHEMAS[2])
    txn = old.txn()
    for key in SCHEMAS[2].object_keys("node"):
        txn.create(key.name, key.default, node="hv1")
    txn.commit()
    assert not zk.exists("/indexes")
    new = Store(zk, SCHEMAS[3])
    assert migrations.migrate(new, 3) == 3
    assert new.children("root.indexes.domain_names") == []
    assert new.read("node.coordinator_state", node="hv1") == "client"


def test_migration_to_v6_gives_every_node_an_empty_osd_add_marker(zk: KazooClient) -> None:
    old = Store(zk, SCHEMAS[5])
    tree.initialize(old, schema=SCHEMAS[5])
    for node in ("hv1", "hv2"):
        txn = old.txn()
        for key in SCHEMAS[5].object_keys("node"):
            txn.create(key.name, key.default, node=node)
        txn.commit()
    old.write("node.daemon_state", "run", node="hv2")
    new = Store(zk, SCHEMAS[6])
    assert migrations.migrate(new, 6) == 6
    assert [new.read("node.osd_add", node=n) for n in ("hv1", "hv2")] == [{}, {}]
    assert new.read("node.daemon_state", node="hv2") == "run"
    assert new.read("schema.version") == 6


def test_migration_to_v7_adds_the_network_description_index(zk: KazooClient) -> None:
    old = Store(zk, SCHEMAS[6])
    tree.initialize(old, schema=SCHEMAS[6])
    assert not zk.exists("/indexes/network_descriptions")
    new = Store(zk, SCHEMAS[7])
    assert migrations.migrate(new, 7) == 7
    assert new.children("root.indexes.network_descriptions") == []
    assert new.children("root.networks") == []
    assert new.read("schema.version") == 7
