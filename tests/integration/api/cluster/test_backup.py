"""GET /backup, POST /restore and POST /initialize against a real ZooKeeper."""

from __future__ import annotations

import json

import pytest

from pvc.state import tree
from pvc.state.schema import LATEST
from pvc.state.store import Store
from tests.integration.api.support import client, register_node, standard_cluster

CONFIRM = {"yes-i-really-mean-it": "yes"}


def test_backup_is_a_json_string_holding_the_backup(store: Store) -> None:
    standard_cluster(store)
    r = client(store).get("/api/v1/backup")
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, str)  # double-encoded, as PVC clients expect
    data = json.loads(body)
    assert data["schema_version"] == LATEST
    assert data["keys"]["/config/primary_node"] == "hv1"
    assert "/nodes/hv4/daemon_state" in data["keys"]


def test_backup_then_restore_is_byte_equal(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    original = tree.read_all(store)
    backup = json.loads(c.get("/api/v1/backup").json())
    # change things: a value, a new node, a removed node
    store.write("config.maintenance", True)
    register_node(store, "hv5", mode="hypervisor")
    store.zk.delete("/nodes/hv4", recursive=True)
    assert tree.read_all(store) != original
    r = c.post("/api/v1/restore", params=CONFIRM, data={"cluster_data": json.dumps(backup)})
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["message"], str)
    assert tree.read_all(store) == original


def test_restore_accepts_the_parameters_in_the_query_too(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    original = tree.read_all(store)
    data = c.get("/api/v1/backup").json()  # the double-encoded string works as well
    store.write("config.upstream_ip", "10.9.9.9/24")
    r = c.post("/api/v1/restore", params={**CONFIRM, "cluster_data": data})
    assert r.status_code == 200, r.text
    assert tree.read_all(store) == original


def _mutated_backups(store: Store) -> list[tuple[str, str]]:
    good = tree.backup(store)
    other_version = {**good, "schema_version": good["schema_version"] - 1}
    orphan = {**good, "keys": {**good["keys"], "/nope/child": "x"}}
    dotdot = {**good, "keys": {**good["keys"], "/config/..": "x"}}
    bad_b64 = {**good, "binary": {"/config/blob": "%%%"}}
    return [
        (json.dumps(other_version), "schema"),
        ("{not json", "JSON"),
        ("", "cluster_data"),
        (json.dumps({"hello": "world"}), "not a PVC cluster backup"),
        (json.dumps([1, 2]), "not a PVC cluster backup"),
        (json.dumps(orphan), "parent"),
        (json.dumps(dotdot), "invalid"),
        (json.dumps(bad_b64), "malformed"),
    ]


def test_bad_restores_are_400_and_change_nothing(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    before = tree.read_all(store)
    for data, word in _mutated_backups(store):
        r = c.post("/api/v1/restore", params=CONFIRM, data={"cluster_data": data})
        assert r.status_code == 400, (data[:60], r.text)
        assert word in r.json()["message"], (word, r.json())
        assert tree.read_all(store) == before


@pytest.mark.parametrize("confirm", [{}, {"yes-i-really-mean-it": "no"}])
def test_restore_needs_confirmation(store: Store, confirm: dict[str, str]) -> None:
    standard_cluster(store)
    c = client(store)
    data = c.get("/api/v1/backup").json()
    store.write("config.maintenance", True)
    before = tree.read_all(store)
    r = c.post("/api/v1/restore", params=confirm, data={"cluster_data": data})
    assert r.status_code == 400 and "yes-i-really-mean-it" in r.json()["message"]
    assert tree.read_all(store) == before


@pytest.mark.parametrize("confirm", [{}, {"yes-i-really-mean-it": "sure"}])
def test_initialize_refuses_without_confirmation(store: Store, confirm: dict[str, str]) -> None:
    standard_cluster(store)
    before = tree.read_all(store)
    r = client(store).post("/api/v1/initialize", params={**confirm, "overwrite": "True"})
    assert r.status_code == 400 and "yes-i-really-mean-it" in r.json()["message"]
    assert tree.read_all(store) == before


def test_initialize_an_existing_cluster_needs_overwrite(store: Store) -> None:
    standard_cluster(store)
    before = tree.read_all(store)
    c = client(store)
    for params in (CONFIRM, {**CONFIRM, "overwrite": "False"}):
        r = c.post("/api/v1/initialize", params=params)
        assert r.status_code == 400 and "overwrite" in r.json()["message"]
        assert tree.read_all(store) == before
    r = c.post("/api/v1/initialize", data={**CONFIRM, "overwrite": "True"})
    assert r.status_code == 200, r.text
    assert store.children("root.nodes") == []
    assert store.read("config.primary_node") == "none"


def test_initialize_an_empty_store(store: Store) -> None:
    r = client(store).post("/api/v1/initialize", params=CONFIRM)
    assert r.status_code == 200 and "initialized" in r.json()["message"]
    assert store.read("schema.version") == LATEST
    assert store.read("config.maintenance") is False
