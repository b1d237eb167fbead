"""VM state and node changes against a real ZooKeeper: guards, the status they write,
refusals that change nothing, and the three migration verbs."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.vm.support import (
    API,
    define,
    info,
    set_running,
    set_status,
    uuid_of,
    vm_cluster,
)

U = uuid_of("vm1")


def running_vm(store: Store, **params: Any) -> TestClient:
    c = vm_cluster(store)
    define(c, "vm1", node="hv1", **params)
    set_status(store, U, state="start")
    set_running(store, "hv1", [U])
    return c


def post_state(c: TestClient, state: str, **params: str) -> tuple[int, str]:
    r = c.post(f"{API}/vm/vm1/state", params={"state": state, **params})
    return r.status_code, r.json()["message"]


def post_node(c: TestClient, action: str, **params: str) -> tuple[int, str]:
    r = c.post(f"{API}/vm/vm1/node", params={"action": action, **params})
    return r.status_code, r.json()["message"]


def test_state_changes_write_the_wanted_state(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    assert post_state(c, "start", force="False", wait="False") == (200, 'Starting VM "vm1".')
    assert store.read("domain.status", domain=U)["state"] == "start"
    assert post_state(c, "restart") == (200, 'Restarting VM "vm1".')
    set_status(store, U, state="start")
    assert post_state(c, "shutdown") == (200, 'Shutting down VM "vm1".')
    assert post_state(c, "stop") == (200, 'Forcibly stopping VM "vm1".')
    assert post_state(c, "disable", force="True") == (200, 'Marked VM "vm1" as disabled.')
    status = store.read("domain.status", domain=U)
    # five requests so far, numbered so that a node can say which one it carried out
    assert status["state"] == "disable" and status["intent"] == {"force": True, "seq": 5}
    assert c.get(f"{API}/vm/vm1/state").json() == {"name": "vm1", "state": "disable"}


@pytest.mark.parametrize(("current", "wanted"), [("stop", "restart"), ("stop", "shutdown"),
                                                 ("disable", "restart"), ("migrate", "start")])
def test_state_guards_refuse_and_change_nothing(store: Store, current: str, wanted: str) -> None:
    c = vm_cluster(store, "vm1")
    set_status(store, U, state=current)
    before = tree.read_all(store)
    status, message = post_state(c, wanted)
    assert status == 400
    assert f"in state {current}; {wanted} is not possible" in message
    assert tree.read_all(store) == before


def test_same_state_is_already_and_bad_requests_are_refused(store: Store) -> None:
    c = vm_cluster(store, "vm1")
    before = tree.read_all(store)
    assert post_state(c, "stop") == (200, 'VM "vm1" is already in state stop.')
    status, message = post_state(c, "explode")
    assert status == 400 and "'state'" in message
    status, message = post_state(c, "start", force="sure")
    assert status == 400 and "'force'" in message
    r = c.post(f"{API}/vm/ghost/state", params={"state": "start"})
    assert r.status_code == 404 and "ghost" in r.json()["message"]
    assert tree.read_all(store) == before


def test_migrate_unmigrate_and_move(store: Store) -> None:
    c = running_vm(store, limit="hv1,hv2,hv3")
    status, message = post_node(c, "migrate", node="hv2", force="false", wait="false",
                                force_live="true")
    assert (status, message) == (200, 'Migrating VM "vm1" to node "hv2".')
    vm = info(c, "vm1")
    assert (vm["state"], vm["node"], vm["last_node"], vm["migrated"]) == (
        "migrate", "hv2", "hv1", "from hv1")
    intent = store.read("domain.status", domain=U)["intent"]
    assert (intent["source"], intent["force_live"]) == ("hv1", True)
    set_status(store, U, state="start")
    before = tree.read_all(store)
    status, message = post_node(c, "migrate", node="hv3")
    assert status == 400 and "previously migrated (from hv1)" in message
    assert tree.read_all(store) == before
    assert post_node(c, "migrate", node="hv3", force="true")[0] == 200
    vm = info(c, "vm1")
    assert (vm["node"], vm["last_node"]) == ("hv3", "hv1")  # the first origin is kept
    set_status(store, U, state="start")
    assert post_node(c, "unmigrate") == (200, 'Unmigrating VM "vm1" back to node "hv1".')
    vm = info(c, "vm1")
    assert (vm["state"], vm["node"], vm["last_node"], vm["migrated"]) == (
        "unmigrate", "hv1", "", "no")
    set_status(store, U, state="start")
    status, message = post_node(c, "unmigrate")
    assert status == 400 and "has not been migrated" in message
    assert post_node(c, "move", node="hv3") == (
        200, 'Permanently migrating VM "vm1" to node "hv3".')
    vm = info(c, "vm1")
    assert (vm["state"], vm["node"], vm["last_node"]) == ("migrate", "hv3", "")


def test_move_to_the_current_node_makes_a_migration_permanent(store: Store) -> None:
    c = running_vm(store)
    assert post_node(c, "migrate", node="hv2")[0] == 200
    set_status(store, U, state="start")
    status, message = post_node(c, "move", node="hv2", wait="true")
    assert (status, message) == (200, 'Made the migration of VM "vm1" to node "hv2" permanent.')
    vm = info(c, "vm1")
    assert (vm["state"], vm["node"], vm["last_node"], vm["migrated"]) == (
        "start", "hv2", "", "no")


def test_migrate_picks_a_ready_node_and_a_stopped_vm_only_changes_node(store: Store) -> None:
    c = vm_cluster(store)
    define(c, "vm1", node="hv1")
    status, message = post_node(c, "migrate", wait="true")
    assert status == 200
    vm = info(c, "vm1")
    assert vm["node"] in ("hv2", "hv3") and message.endswith(f'to node "{vm["node"]}".')
    assert (vm["state"], vm["last_node"]) == ("stop", "hv1")


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"action": "migrate", "node": "hv4"}, 400, "cannot take VMs"),
        ({"action": "migrate", "node": "hv9"}, 404, "hv9"),
        ({"action": "migrate", "node": "hv3"}, 400, "outside the VM's node limit"),
        ({"action": "migrate", "node": "hv1"}, 400, "already on node hv1"),
        ({"action": "migrate", "node": "Bad_Node"}, 400, "node name"),
        ({"action": "teleport"}, 400, "'action'"),
        ({"action": "move", "force_live": "maybe"}, 400, "'force_live'"),
    ],
)
def test_node_refusals_change_nothing(
    store: Store, params: dict[str, str], status: int, words: str
) -> None:
    c = running_vm(store, limit="hv1,hv2,hv4")
    before = tree.read_all(store)
    r = c.post(f"{API}/vm/vm1/node", params=params)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]
    assert tree.read_all(store) == before


def test_a_busy_vm_cannot_move(store: Store) -> None:
    c = running_vm(store)
    set_status(store, U, state="shutdown")
    before = tree.read_all(store)
    for action in ("migrate", "move", "unmigrate"):
        status, message = post_node(c, action)
        assert status == 400 and "busy (shutdown)" in message
    assert tree.read_all(store) == before
