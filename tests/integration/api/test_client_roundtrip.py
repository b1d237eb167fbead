"""Our own typed client (which sends what PVC's CLI sends) against the API on ZooKeeper."""

from __future__ import annotations

import json

import pytest

from pvc.client import ApiClient, Connection
from pvc.common.errors import InvalidArgument, NotFound, Unauthorized
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import TOKEN, client, standard_cluster


def api(store: Store, key: str | None = TOKEN) -> ApiClient:
    test_client = client(store, headers=None)
    connection = Connection(name="test", host="testserver", port=80, api_key=key)
    return ApiClient(connection, transport=test_client._transport)


def test_the_client_round_trips_every_foundation_call(store: Store) -> None:
    standard_cluster(store)
    pvc = api(store)
    assert pvc.status()["nodes"]["total"] == 4
    assert pvc.primary_node() == "hv1"
    assert [n["name"] for n in pvc.node_list(coordinator_state="secondary")] == ["hv2", "hv3"]
    assert pvc.node_info("hv4")["domain_state"] == "flushed"
    assert "maintenance" in pvc.set_maintenance(True)
    assert store.read("config.maintenance") is True
    backup = pvc.backup()
    assert backup["keys"]["/config/maintenance"] == "true"
    pvc.set_maintenance(False)
    assert "Restore" in pvc.restore(json.dumps(backup))
    assert store.read("config.maintenance") is True
    message = pvc.node_coordinator_state("hv2", "primary")
    assert message == "Setting node hv2 in primary coordinator state."
    assert "already" in pvc.node_coordinator_state("hv1", "primary")
    assert pvc.node_log("hv1") == []
    before = tree.read_all(store)
    with pytest.raises(InvalidArgument):
        pvc.initialize(overwrite=False)
    assert tree.read_all(store) == before


def test_the_client_sees_our_errors_as_its_own(store: Store) -> None:
    standard_cluster(store)
    with pytest.raises(NotFound):
        api(store).node_info("hv9")
    with pytest.raises(InvalidArgument):
        api(store).node_coordinator_state("hv4", "primary")
    with pytest.raises(Unauthorized):
        api(store, key="wrong").status()
