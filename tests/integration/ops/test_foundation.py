"""The ops layer under the API: compare-and-set handover requests, log chunks, status."""

from __future__ import annotations

import pytest

from pvc.common.errors import Conflict, InvalidArgument, InvalidState, NotFound
from pvc.ops.cluster import status as cluster
from pvc.ops.node import coordinator, logs
from pvc.state import tree
from pvc.state.store import Store, Txn
from tests.integration.api.support import client, make_config, standard_cluster


class RacingStore(Store):
    """A store where someone else writes `key` between our reads and our commit."""

    def __init__(self, store: Store, key: str, value: object, **params: str) -> None:
        super().__init__(store.zk, store.schema)
        self.race = (key, value, params)

    def txn(self) -> Txn:
        key, value, params = self.race
        Store(self.zk).write(key, value, **params)
        return super().txn()


@pytest.mark.parametrize(
    ("key", "value", "params", "error"),
    [
        ("config.primary_node", "hv3", {}, Conflict),
        # read again after the lost race: the node is no longer in run
        ("node.daemon_state", "shutdown", {"node": "hv2"}, InvalidState),
        ("config.primary_request", {"relinquish": "hv1", "target": "hv3", "expires": 1.0}, {},
         Conflict),
    ],
)
def test_handover_request_is_compare_and_set(
    store: Store, key: str, value: object, params: dict[str, str], error: type[Exception]
) -> None:
    standard_cluster(store)
    racing = RacingStore(store, key, value, **params)
    with pytest.raises(error):
        coordinator.set_coordinator_state(racing, "hv2", "primary")
    request = store.read("config.primary_request")
    assert request == ({} if key != "config.primary_request" else value)


class KeepaliveStore(Store):
    """A store where the node's keepalives rewrite its daemon state (the same value, a
    new version) between our reads and our first `beats` commits."""

    def __init__(self, store: Store, beats: int) -> None:
        super().__init__(store.zk, store.schema)
        self.beats = beats

    def txn(self) -> Txn:
        if self.beats:
            self.beats -= 1
            Store(self.zk).write("node.daemon_state", "run", node="hv2")
        return super().txn()


def test_a_keepalive_in_between_does_not_refuse_a_handover_request(store: Store) -> None:
    standard_cluster(store)
    beating = KeepaliveStore(store, beats=2)
    message = coordinator.set_coordinator_state(beating, "hv2", "primary", now=1000.0)
    assert message == "Setting node hv2 in primary coordinator state."
    assert store.read("config.primary_request") == {
        "relinquish": "hv1", "target": "hv2", "expires": 1030.0}


def test_a_lost_race_answers_400_on_the_coordinator_route(store: Store) -> None:
    standard_cluster(store)
    racing = RacingStore(store, "config.primary_node", "hv3")
    c = client(racing)
    r = c.post("/api/v1/node/hv2/coordinator-state", params={"state": "primary"})
    assert r.status_code == 400 and "changed by someone else" in r.json()["message"]
    assert store.read("config.primary_request") == {}


def test_handover_request_expires_thirty_seconds_later(store: Store) -> None:
    standard_cluster(store)
    coordinator.set_coordinator_state(store, "hv3", "primary", now=1000.0)
    assert store.read("config.primary_request") == {
        "relinquish": "hv1",
        "target": "hv3",
        "expires": 1030.0,
    }


def _chunk(store: Store, node: str, name: str, text: str) -> None:
    base = store.path("logs.node", node=node)
    store.zk.ensure_path(base)
    store.zk.create(f"{base}/{name}", text.encode())


def test_log_chunks_in_sequence_order_with_odd_contents(store: Store) -> None:
    standard_cluster(store)
    # sequence numbers that outgrew their padding sort by length first
    _chunk(store, "hv1", "c-9", "a\nb\n")
    _chunk(store, "hv1", "c-10", "")
    _chunk(store, "hv1", "c-11", "c\nd")
    for i in range(12, 22):  # more chunks than one read batch
        _chunk(store, "hv1", f"c-{i}", f"e{i}")
    lines = logs.node_log(store, "hv1", 100, 1000).split("\n")
    assert lines == ["a", "b", "c", "d"] + [f"e{i}" for i in range(12, 22)]
    assert logs.node_log(store, "hv1", 12, 1000).split("\n")[:2] == ["c", "d"]
    assert logs.node_log(store, "hv1", 100, 5).split("\n") == [f"e{i}" for i in range(17, 22)]
    with pytest.raises(NotFound):
        logs.node_log(store, "hv7", 10, 10)
    with pytest.raises(InvalidArgument):
        logs.node_log(store, "hv1/../x", 10, 10)


def test_status_of_an_empty_cluster(store: Store) -> None:
    tree.initialize(store)
    st = cluster.status(store, make_config())
    assert st.nodes == [] and st.health == 100 and st.primary_node == "none"
    assert st.resources.cpu_total == 0 and st.resources.cpu_utilization == 0.0
    assert st.counts.vms_total == 0 and st.node_state_counts() == {}
    assert cluster.primary_node(store) is None


def test_set_maintenance_writes_the_flag(store: Store) -> None:
    tree.initialize(store)
    assert "maintenance" in cluster.set_maintenance(store, True)
    assert store.read("config.maintenance") is True
    assert "normal" in cluster.set_maintenance(store, False)
    assert store.read("config.maintenance") is False
