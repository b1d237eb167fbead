"""Every provisioner route we serve, with exactly the query parameters of PVC's published
surface."""

from __future__ import annotations

import json

import pytest

from pvc.state.store import Store
from tests.integration.api.support import client
from tests.integration.api.vm.test_surface import SURFACE

PREFIX = "/api/v1/provisioner"


def query_params(op: dict[str, object], key: str) -> set[str]:
    return {str(p["name"]) for p in op.get(key, []) if p["in"] == "query"}  # type: ignore[attr-defined, index]


def test_the_routes_and_parameters_are_pvc_s(store: Store) -> None:
    if not SURFACE.exists():
        pytest.skip("the PVC surface reference is not available")
    ops = json.loads(SURFACE.read_text())["operations"]
    expected = {(method, path): query_params(op, "params")
                for path, item in ops.items()
                if path.startswith(f"{PREFIX}/")
                for method, op in item.items()}
    doc = client(store, headers=None).get("/api/v1/openapi.json").json()
    found = {(method, path): query_params(op, "parameters")
             for path, item in doc["paths"].items() if path.startswith(f"{PREFIX}/")
             for method, op in item.items()}
    assert len(expected) == 51
    assert found == expected
