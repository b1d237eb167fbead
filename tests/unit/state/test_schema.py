"""The schema table: path building with validated segments, object keys, runtime keys."""

from __future__ import annotations

import pytest

from pvc.common.errors import InvalidArgument
from pvc.state.schema import CURRENT, SCHEMAS


def test_paths_are_built_from_validated_segments() -> None:
    assert CURRENT.key("node.stats").path(node="hv2") == "/nodes/hv2/stats"
    uuid = "3f2b0c1e-0000-4000-8000-000000000001"
    assert CURRENT.key("domain.status").path(domain=uuid) == f"/domains/{uuid}/status"
    for bad in ({"node": "../x"}, {"node": "HV1"}, {"node": ""}):
        with pytest.raises(InvalidArgument):
            CURRENT.key("node.stats").path(**bad)
    for bad_uuid in ("not-a-uuid", uuid.upper(), uuid + "/x"):
        with pytest.raises(InvalidArgument):
            CURRENT.key("domain.status").path(domain=bad_uuid)
    with pytest.raises(InvalidArgument):
        CURRENT.key("node.stats").path()


def test_object_keys_are_the_objects_own() -> None:
    names = [k.name for k in CURRENT.object_keys("domain")]
    assert names[0] == "domain" and "domain.status" in names
    assert all(k.params == ("domain",) for k in CURRENT.object_keys("domain"))
    assert "logs.node" not in [k.name for k in CURRENT.object_keys("node")]


def test_runtime_figures_are_volatile_and_intent_is_not() -> None:
    volatile = ["/nodes/hv1/keepalive", "/nodes/hv1/stats", "/logs/hv1/c-0000000001",
                "/domains/u/console_log", "/domains/u/stats"]
    intent = ["/nodes/hv1/daemon_state", "/domains/u/status", "/domains/u/xml",
              "/config/maintenance", "/logs/hv1", "/nodes/hv1/stats/extra"]
    assert all(CURRENT.is_volatile(p) for p in volatile)
    assert not any(CURRENT.is_volatile(p) for p in intent)


def test_versions_bump_their_numbers() -> None:
    for version, schema in SCHEMAS.items():
        assert schema.key("schema.version").default == version
