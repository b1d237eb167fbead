"""System templates through the API on real PostgreSQL (schema by the API's own background
preparation) and ZooKeeper: PVC's wire shapes, and refusals that change nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pvc.db.engine import Database
from pvc.db.prepared import PreparedDatabase
from pvc.state.store import Store
from tests.integration.api.support import client, standard_cluster

API = "/api/v1/provisioner/template/system"
SMALL = {"name": "small", "vcpus": "1", "vram": "512", "serial": "True", "vnc": "False"}
FIELDS = {"id", "name", "vcpu_count", "vram_mb", "serial", "vnc", "vnc_bind", "node_limit",
          "node_selector", "node_autostart", "migration_method", "migration_max_downtime"}


def names(c: TestClient) -> list[str]:
    r = c.get(API)
    return [t["name"] for t in r.json()] if r.status_code == 200 else []


def test_create_show_change_remove_with_pvc_shapes(c: TestClient) -> None:
    assert c.get(API).status_code == 404  # PVC answers an empty listing so
    r = c.post(API, params=SMALL)
    assert r.status_code == 200, r.text
    assert "small" in r.json()["message"]
    # as PVC's CLI sends a create with the name in the path, the form body too
    r = c.post(f"{API}/big", data={"vcpus": "4", "vram": "4096", "serial": "true",
                                   "vnc": "True", "vnc_bind": "0.0.0.0", "node_limit": "hv1,hv2",
                                   "node_selector": "mem", "node_autostart": "True",
                                   "migration_method": "live", "migration_max_downtime": "600"})
    assert r.status_code == 200, r.text
    listed = c.get(API).json()
    assert [t["name"] for t in listed] == ["big", "small"]
    assert all(set(t) == FIELDS for t in listed)
    one = c.get(f"{API}/big").json()
    assert isinstance(one, list) and len(one) == 1
    assert {k: one[0][k] for k in ("vcpu_count", "vram_mb", "serial", "vnc", "vnc_bind",
                                   "node_limit", "node_selector", "node_autostart",
                                   "migration_method", "migration_max_downtime")} == {
        "vcpu_count": 4, "vram_mb": 4096, "serial": True, "vnc": True, "vnc_bind": "0.0.0.0",
        "node_limit": "hv1,hv2", "node_selector": "mem", "node_autostart": True,
        "migration_method": "live", "migration_max_downtime": 600}
    r = c.put(f"{API}/small", params={"vram": "1024"})
    assert r.status_code == 200, r.text
    assert c.get(f"{API}/small").json()[0]["vram_mb"] == 1024
    assert [t["name"] for t in c.get(API, params={"limit": "^sm"}).json()] == ["small"]
    r = c.delete(f"{API}/small")
    assert r.status_code == 200, r.text
    assert names(c) == ["big"]


@pytest.mark.parametrize(("params", "message"), [
    ({**SMALL, "name": "bad name"}, "name"),
    ({**SMALL, "name": ""}, "name"),
    ({k: v for k, v in SMALL.items() if k != "vcpus"}, "vcpu_count"),
    ({**SMALL, "vcpus": "0"}, "vCPU"),
    ({**SMALL, "vram": "lots"}, "vram"),
    ({**SMALL, "serial": "maybe"}, "serial"),
    ({**SMALL, "node_selector": "fastest"}, "selector"),
    ({**SMALL, "migration_method": "teleport"}, "migration method"),
    ({**SMALL, "vnc_bind": "'; DROP TABLE system_template; --"}, "VNC bind"),
    ({**SMALL, "node_limit": "hv1,../../etc"}, "node"),
])
def test_bad_input_is_a_400_naming_it_and_creates_nothing(
        c: TestClient, params: dict[str, str], message: str) -> None:
    r = c.post(API, params=params)
    assert r.status_code in (400, 422), r.text
    assert message in r.text
    assert names(c) == []


def test_duplicates_and_unknown_templates(c: TestClient) -> None:
    assert c.post(API, params=SMALL).status_code == 200
    r = c.post(API, params={**SMALL, "vcpus": "2"})
    assert r.status_code == 400 and "already exists" in r.json()["message"]
    assert c.get(f"{API}/small").json()[0]["vcpu_count"] == 1
    for method in ("get", "put", "delete"):
        r = c.request(method.upper(), f"{API}/nope", params={"vram": "1024"})
        assert r.status_code == 404 and "nope" in r.json()["message"], (method, r.text)


def test_without_a_database_the_provisioner_answers_503_saying_why(store: Store) -> None:
    standard_cluster(store)
    r = client(store).get(API)
    assert r.status_code == 503 and "not enabled" in r.json()["message"]


def test_a_database_that_does_not_answer_is_a_503_naming_it(store: Store, db: Database) -> None:
    import dataclasses
    standard_cluster(store)
    prepared = PreparedDatabase(dataclasses.replace(db.spec, hosts=["127.0.0.2"]),
                                retry_interval=0.2, wait=1).start()
    try:
        r = client(store, database=prepared).get(API)
        assert r.status_code == 503 and "127.0.0.2" in r.json()["message"]
    finally:
        prepared.close()
