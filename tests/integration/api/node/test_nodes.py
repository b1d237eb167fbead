"""The node endpoints against a real ZooKeeper: fields, filters, errors, health, log."""

from __future__ import annotations

import time

import pytest

from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import client, register_node, standard_cluster

NODE_FIELDS = {
    "name": str,
    "daemon_state": str,
    "coordinator_state": str,
    "domain_state": str,
    "domains_count": int,
    "running_domains": str,
    "cpu_count": int,
    "load": float,
    "memory": dict,
    "vcpu": dict,
    "kernel": str,
    "os": str,
    "arch": str,
    "pvc_version": str,
    "health": int,
    "health_details": list,
    "health_plugins": list,
    "interfaces": dict,
}
UUID = "0b5c3a52-3e0e-4d0a-9c6e-1a2b3c4d5e6f"


def names_of(body: list[dict[str, object]]) -> list[object]:
    return [n["name"] for n in body]


def test_node_list_has_exactly_the_surface_fields(store: Store) -> None:
    standard_cluster(store)
    r = client(store).get("/api/v1/node")
    assert r.status_code == 200
    body = r.json()
    assert names_of(body) == ["hv1", "hv2", "hv3", "hv4"]
    for node in body:
        assert set(node) == set(NODE_FIELDS)
        for key, typ in NODE_FIELDS.items():
            assert isinstance(node[key], typ), (key, node[key])
        assert set(node["memory"]) == {"total", "used", "free", "allocated", "provisioned"}
        assert all(isinstance(v, int) for v in node["memory"].values())
        assert node["vcpu"] == {"total": node["cpu_count"], "allocated": 4}
        assert node["health"] == 100
        assert [d["name"] for d in node["health_details"]] == ["keepalive"]
        detail = node["health_details"][0]
        assert set(detail) == {"name", "health_delta", "message", "last_run"}
        assert detail["health_delta"] == 0 and isinstance(detail["last_run"], int)
    hv1, hv4 = body[0], body[3]
    assert hv1["running_domains"] == UUID and hv1["domains_count"] == 1
    assert hv1["coordinator_state"] == "primary" and hv1["memory"]["total"] == 16000
    assert hv4["cpu_count"] == 4 and hv4["domain_state"] == "flushed"
    assert hv1["kernel"] == "6.1.0-18-amd64" and hv1["arch"] == "x86_64"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": "hv"}, ["hv1", "hv2", "hv3", "hv4"]),
        ({"limit": "2"}, ["hv2"]),
        ({"limit": "^hv"}, ["hv1", "hv2", "hv3", "hv4"]),
        ({"limit": "v3$"}, ["hv3"]),
        ({"limit": "^hv[12]$"}, ["hv1", "hv2"]),
        ({"daemon_state": "run"}, ["hv1", "hv2", "hv3", "hv4"]),
        ({"coordinator_state": "primary"}, ["hv1"]),
        ({"coordinator_state": "secondary"}, ["hv2", "hv3"]),
        ({"domain_state": "flushed"}, ["hv4"]),
        ({"limit": "hv", "coordinator_state": "client", "domain_state": "flushed"}, ["hv4"]),
    ],
)
def test_node_list_filters(store: Store, params: dict[str, str], expected: list[str]) -> None:
    standard_cluster(store)
    r = client(store).get("/api/v1/node", params=params)
    assert r.status_code == 200, r.text
    assert names_of(r.json()) == expected


def test_node_list_without_match_is_404_like_pvc(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    for params in ({"limit": "^v"}, {"daemon_state": "dead"}):
        r = c.get("/api/v1/node", params=params)
        assert r.status_code == 404
        assert "not found" in r.json()["message"]


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"daemon_state": "running"}, "daemon_state"),
        ({"coordinator_state": "boss"}, "coordinator_state"),
        ({"domain_state": "x"}, "domain_state"),
        ({"limit": "hv(1"}, "limit"),
    ],
)
def test_node_list_bad_filters_are_400(store: Store, params: dict[str, str], word: str) -> None:
    standard_cluster(store)
    r = client(store).get("/api/v1/node", params=params)
    assert r.status_code == 400
    assert word in r.json()["message"]


def test_single_node_endpoints(store: Store) -> None:
    standard_cluster(store)
    c = client(store)
    info = c.get("/api/v1/node/hv4").json()
    assert isinstance(info, list) and len(info) == 1 and info[0]["name"] == "hv4"
    assert set(info[0]) == set(NODE_FIELDS)
    assert c.get("/api/v1/node/hv1/daemon-state").json() == {"name": "hv1", "daemon_state": "run"}
    assert c.get("/api/v1/node/hv1/coordinator-state").json() == {
        "name": "hv1",
        "coordinator_state": "primary",
    }
    assert c.get("/api/v1/node/hv4/domain-state").json() == {
        "name": "hv4",
        "domain_state": "flushed",
    }


@pytest.mark.parametrize(
    "suffix", ["", "/daemon-state", "/coordinator-state", "/domain-state", "/log"]
)
def test_unknown_node_is_404_and_bad_name_is_400(store: Store, suffix: str) -> None:
    standard_cluster(store)
    c = client(store)
    r = c.get(f"/api/v1/node/hv9{suffix}")
    assert r.status_code == 404 and "hv9" in r.json()["message"]
    r = c.get(f"/api/v1/node/Bad_Name{suffix}")
    assert r.status_code == 400 and "node name" in r.json()["message"]


def test_health_reflects_keepalive_and_daemon_state(store: Store) -> None:
    tree.initialize(store)
    register_node(store, "hv1")
    register_node(store, "hv2", keepalive=time.time() - 60)  # limit: 3 x 2 s = 6 s
    register_node(store, "hv3", daemon_state="dead", keepalive=time.time() - 600)
    register_node(store, "hv4", mode="hypervisor", daemon_state="stop")
    body = {n["name"]: n for n in client(store).get("/api/v1/node").json()}
    assert body["hv1"]["health"] == 100
    for name in ("hv2", "hv3", "hv4"):
        assert body[name]["health"] == 0
        assert body[name]["health_details"][0]["health_delta"] == 100
    assert "No keepalive for" in body["hv2"]["health_details"][0]["message"]
    assert "dead" in body["hv3"]["health_details"][0]["message"]
    assert "stopped" in body["hv4"]["health_details"][0]["message"]


def test_missing_stats_read_as_zero(store: Store) -> None:
    tree.initialize(store)
    txn = store.txn()
    for key in store.schema.object_keys("node"):
        txn.create(key.name, "coordinator" if key.name == "node" else key.default, node="hv1")
    txn.commit()
    node = client(store).get("/api/v1/node/hv1").json()[0]
    assert node["daemon_state"] == "stop" and node["cpu_count"] == 0 and node["load"] == 0.0
    assert node["memory"]["total"] == 0 and node["running_domains"] == ""
    assert node["health"] == 0


def add_log(store: Store, node: str, chunks: list[list[str]]) -> None:
    base = store.path("logs.node", node=node)
    store.zk.ensure_path(base)
    for lines in chunks:
        store.zk.create(f"{base}/c-", "\n".join(lines).encode(), sequence=True)


def test_log_returns_the_last_lines_across_chunks(store: Store) -> None:
    standard_cluster(store)
    add_log(
        store,
        "hv1",
        [[f"line {i}" for i in range(start, start + 10)] for start in range(0, 40, 10)],
    )
    c = client(store)
    r = c.get("/api/v1/node/hv1/log", params={"lines": 15})
    assert r.status_code == 200
    assert r.json() == {"name": "hv1", "data": "\n".join(f"line {i}" for i in range(25, 40))}
    assert c.get("/api/v1/node/hv1/log", params={"lines": 3}).json()["data"] == (
        "line 37\nline 38\nline 39"
    )
    # the default (1000) is capped at the buffer: all 40 lines here
    assert c.get("/api/v1/node/hv1/log").json()["data"].splitlines() == [
        f"line {i}" for i in range(40)
    ]
    assert c.get("/api/v1/node/hv2/log").json() == {"name": "hv2", "data": ""}
    assert c.get("/api/v1/node/hv1/log", params={"lines": 0}).status_code == 400
    assert c.get("/api/v1/node/hv1/log", params={"lines": "many"}).status_code == 400


def test_log_is_capped_at_the_configured_buffer(store: Store) -> None:
    standard_cluster(store)  # node_log_lines: 50 in the test config
    add_log(store, "hv2", [[f"l{i}" for i in range(s, s + 30)] for s in range(0, 90, 30)])
    data = client(store).get("/api/v1/node/hv2/log", params={"lines": 500}).json()["data"]
    assert data.splitlines() == [f"l{i}" for i in range(40, 90)]
