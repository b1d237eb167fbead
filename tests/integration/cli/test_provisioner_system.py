"""`pvc provisioner template system ...` end to end: the CLI, our client, the API, a real
PostgreSQL and ZooKeeper. Output formats, and refusals that exit non-zero changing
nothing."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_add_list_modify_remove(pvc) -> None:  # type: ignore[no-untyped-def]
    base = ("provisioner", "template", "system")
    r = pvc(*base, "list")
    assert r.exit_code == 0 and "No system templates found." in r.output
    r = pvc(*base, "add", "web", "-u", "2", "-m", "2048", "--serial", "--node-limit",
            "hv1,hv2", "--node-selector", "mem", "--migration-method", "live")
    assert r.exit_code == 0, r.output
    assert "Added new system template 'web'." in r.output
    r = pvc(*base, "modify", "web", "--vnc", "-b", "0.0.0.0", "--no-serial")
    assert r.exit_code == 0, r.output
    r = pvc(*base, "list", "-f", "json")
    [web] = json.loads(r.output)
    assert {k: web[k] for k in ("vcpu_count", "vram_mb", "serial", "vnc", "vnc_bind",
                                "node_limit", "node_selector", "migration_method")} == {
        "vcpu_count": 2, "vram_mb": 2048, "serial": False, "vnc": True, "vnc_bind": "0.0.0.0",
        "node_limit": "hv1,hv2", "node_selector": "mem", "migration_method": "live"}
    r = pvc(*base, "list")
    assert "web" in r.output and "hv1,hv2" in r.output and "2048" in r.output
    assert pvc(*base, "list", "-f", "raw").output.split() == ["web"]
    r = pvc(*base, "remove", "web", "--yes")
    assert r.exit_code == 0 and "Removed" in r.output
    assert json.loads(pvc(*base, "list", "-f", "json").output) == []


def test_refusals_exit_non_zero_and_change_nothing(pvc) -> None:  # type: ignore[no-untyped-def]
    base = ("provisioner", "template", "system")
    assert pvc(*base, "add", "web", "-u", "1", "-m", "512").exit_code == 0
    r = pvc(*base, "add", "web", "-u", "4", "-m", "512")
    assert r.exit_code != 0 and "already exists" in r.output
    r = pvc(*base, "add", "w;b", "-u", "1", "-m", "512")
    assert r.exit_code != 0 and "name" in r.output
    r = pvc(*base, "modify", "nope", "-m", "1024")
    assert r.exit_code != 0 and "nope" in r.output
    r = pvc(*base, "add", "big", "-u", "1", "-m", "8")
    assert r.exit_code != 0 and "memory" in r.output
    names = [t["name"] for t in json.loads(pvc(*base, "list", "-f", "json").output)]
    assert names == ["web"]
    assert json.loads(pvc(*base, "list", "-f", "json").output)[0]["vcpu_count"] == 1
