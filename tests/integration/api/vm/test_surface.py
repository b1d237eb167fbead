"""The VM routes against PVC's published surface: every route and query parameter is
served and documented, each needs the API key, and answers are JSON objects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import client, standard_cluster

SURFACE = Path("/work/shared/reference/pvc-api-v1-surface.json")
LATER = re.compile(r"snapshot|mirror|backup|restore|receive|import|export|send")


def surface_ops() -> dict[tuple[str, str], set[str]]:
    if not SURFACE.exists():
        pytest.skip("the PVC surface reference is not available")
    ops = json.loads(SURFACE.read_text())["operations"]
    out: dict[tuple[str, str], set[str]] = {}
    for path, item in ops.items():
        wanted = path.startswith("/api/v1/vm") and not LATER.search(path)
        if wanted or path == "/api/v1/node/{node}/domain-state":
            for method, op in item.items():
                out[(method, path)] = {p["name"] for p in op["params"] if p["in"] == "query"}
    return out


def test_every_vm_route_of_the_surface_is_documented_with_its_parameters(store: Store) -> None:
    expected = surface_ops()
    doc = client(store, headers=None).get("/api/v1/openapi.json").json()
    found = {
        (method, path): {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if path.startswith("/api/v1/vm") or path.endswith("/domain-state")
    }
    assert set(found) == set(expected)
    for key, params in expected.items():
        assert params <= found[key], key
    # real clients send `state`; the published document calls it `action`
    assert found[("post", "/api/v1/node/{node}/domain-state")] == {"state", "action", "wait"}
    assert all(found[k] == v for k, v in expected.items() if "domain-state" not in k[1])


def test_vm_routes_need_the_key_and_change_nothing_without_it(store: Store) -> None:
    standard_cluster(store)
    before = tree.read_all(store)
    c = client(store, headers=None)
    for method, path in surface_ops():
        url = path.replace("{vm}", "vm1").replace("{node}", "hv1")
        r = c.request(method.upper(), url, params={"state": "start", "action": "add"})
        assert r.status_code == 401, (method, path)
        assert isinstance(r.json(), dict) and r.json()["message"]
    assert tree.read_all(store) == before
