"""POST /node/{node}/coordinator-state: the handover request it writes, and its refusals."""

from __future__ import annotations

import time

import pytest

from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import client, register_node, standard_cluster

URL = "/api/v1/node/{}/coordinator-state"


def post(store: Store, node: str, **params: str) -> tuple[int, str]:
    r = client(store).post(URL.format(node), params=params)
    body = r.json()
    assert isinstance(body, dict) and isinstance(body["message"], str)
    return r.status_code, body["message"]


def test_primary_request_names_old_and_new_primary(store: Store) -> None:
    standard_cluster(store)
    before = time.time()
    status, message = post(store, "hv2", state="primary")
    assert status == 200 and message == "Setting node hv2 in primary coordinator state."
    request = store.read("config.primary_request")
    assert request["relinquish"] == "hv1" and request["target"] == "hv2"
    assert before + 29 <= request["expires"] <= time.time() + 31
    assert store.read("config.primary_node") == "hv1"  # the daemons do the handover


def test_secondary_request_lets_any_other_coordinator_take_over(store: Store) -> None:
    standard_cluster(store)
    status, message = post(store, "hv1", state="secondary")
    assert status == 200 and "hv1" in message and "secondary" in message
    request = store.read("config.primary_request")
    assert (request["relinquish"], request["target"]) == ("hv1", "")


def test_primary_without_a_current_primary(store: Store) -> None:
    standard_cluster(store)
    store.write("config.primary_node", "none")
    assert post(store, "hv3", state="primary")[0] == 200
    request = store.read("config.primary_request")
    assert (request["relinquish"], request["target"]) == ("", "hv3")


@pytest.mark.parametrize(("node", "state"), [("hv1", "primary"), ("hv2", "secondary")])
def test_already_in_state_answers_200_and_writes_nothing(
    store: Store, node: str, state: str
) -> None:
    standard_cluster(store)
    before = tree.read_all(store)
    status, message = post(store, node, state=state)
    assert status == 200 and "already" in message
    assert tree.read_all(store) == before


def test_action_is_an_alias_of_state_and_form_equals_query(store: Store) -> None:
    standard_cluster(store)
    assert post(store, "hv2", action="primary")[0] == 200
    via_query = store.read("config.primary_request")
    store.write("config.primary_request", {})
    r = client(store).post(URL.format("hv2"), data={"state": "primary"})
    assert r.status_code == 200 and r.json()["message"].startswith("Setting node hv2")
    via_form = store.read("config.primary_request")
    assert {k: v for k, v in via_form.items() if k != "expires"} == {
        k: v for k, v in via_query.items() if k != "expires"
    }


@pytest.mark.parametrize(
    ("node", "params", "status", "words"),
    [
        ("hv2", {"state": "tertiary"}, 400, ["state", "tertiary"]),
        ("hv2", {}, 400, ["state"]),
        ("hv2", {"action": "boss"}, 400, ["action"]),
        ("HV2", {"state": "primary"}, 400, ["node name"]),
        ("hv2;rm", {"state": "primary"}, 400, ["node name"]),
        ("hv9", {"state": "primary"}, 404, ["hv9", "not found"]),
        ("hv4", {"state": "primary"}, 400, ["hv4", "not a coordinator"]),
        ("hv3", {"state": "primary"}, 400, ["hv3", "daemon state run"]),
    ],
)
def test_refusals_change_nothing(
    store: Store, node: str, params: dict[str, str], status: int, words: list[str]
) -> None:
    standard_cluster(store)
    store.write("node.daemon_state", "init", node="hv3")
    before = tree.read_all(store)
    got, message = post(store, node, **params)
    assert got == status
    for word in words:
        assert word in message
    assert tree.read_all(store) == before


def test_secondary_refused_when_no_other_coordinator_runs(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1", coordinator_state="primary")
    register_node(store, "hv2", daemon_state="stop")
    register_node(store, "hv3", mode="hypervisor", coordinator_state="client")
    store.write("config.primary_node", "hv1")
    before = tree.read_all(store)
    status, message = post(store, "hv1", state="secondary")
    assert status == 400 and "no other coordinator" in message
    assert tree.read_all(store) == before
