"""Profiles through the API and the CLI on real PostgreSQL and ZooKeeper: PVC's shapes
(a `type`, `arguments` as a list, a list of one for a single profile), repeated `arg`
parameters, refusals that change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.db.engine import Database
from pvc.db.models import Script, StorageTemplate
from pvc.db.prepared import PreparedDatabase
from pvc.state.store import Store
from tests.integration.api.support import TOKEN, client, standard_cluster

API = "/api/v1/provisioner/profile"
SYSTEM = "/api/v1/provisioner/template/system"


@pytest.fixture
def c(store: Store, db: Database) -> Iterator[TestClient]:
    standard_cluster(store)
    prepared = PreparedDatabase(db.spec).start()
    try:
        tc = client(store, database=prepared)
        r = tc.post(SYSTEM, params={"name": "small", "vcpus": "1", "vram": "512",
                                    "serial": "True", "vnc": "False"})
        assert r.status_code == 200, r.text

        def others(s: Session) -> None:
            s.add_all([Script(name="noop", script="class VMBuilderScript: pass\n"),
                       StorageTemplate(name="disks")])

        db.run(others)
        yield tc
    finally:
        prepared.close()


def names(c: TestClient) -> list[str]:
    r = c.get(API)
    return [p["name"] for p in r.json()] if r.status_code == 200 else []


def test_create_show_change_remove(c: TestClient) -> None:
    assert c.get(API).status_code == 404
    r = c.post(API, params=[("name", "web"), ("profile_type", "provisioner"),
                            ("system_template", "small"), ("script", "noop"),
                            ("storage_template", "disks"), ("userdata", "empty"),
                            ("arg", "release=bookworm"), ("arg", "size=small")])
    assert r.status_code == 200, r.text
    [web] = c.get(f"{API}/web").json()
    assert web["type"] == "provisioner" and web["arguments"] == ["release=bookworm",
                                                                   "size=small"]
    assert (web["system_template"], web["storage_template"], web["network_template"],
            web["userdata"], web["script"]) == ("small", "disks", None, "empty", "noop")
    r = c.put(f"{API}/web", params={"storage_template": "", "arg": "release=trixie"})
    assert r.status_code == 200, r.text
    [web] = c.get(f"{API}/web").json()
    assert (web["storage_template"], web["arguments"]) == (None, ["release=trixie"])
    assert c.delete(f"{API}/web").status_code == 200
    assert names(c) == []


@pytest.mark.parametrize(("params", "message"), [
    ({"name": "web", "profile_type": "provisioner", "system_template": "nope",
      "script": "noop"}, "does not exist"),
    ({"name": "web", "profile_type": "provisioner", "system_template": "small"}, "script"),
    ({"name": "web", "profile_type": "kvm", "system_template": "small", "script": "noop"},
     "profile type"),
    ({"name": "../web", "profile_type": "provisioner", "system_template": "small",
      "script": "noop"}, "name"),
    ({"name": "web", "profile_type": "provisioner", "system_template": "small",
      "script": "noop", "arg": "x"}, "key=value"),
])
def test_bad_profiles_are_400_and_create_nothing(c: TestClient, params: dict[str, str],
                                                 message: str) -> None:
    r = c.post(API, params=params)
    assert r.status_code == 400 and message in r.json()["message"], r.text
    assert names(c) == []


def test_the_cli_round_trip(c: TestClient, store: Store, tmp_path: Path) -> None:
    conns = tmp_path / "pvc.json"
    conns.write_text(json.dumps({"t": {"host": "testserver", "port": 80, "scheme": "http",
                                       "api_key": TOKEN}}))

    def pvc(*args: str) -> Result:
        state = CliState(store=conns, transport=c._transport)
        return CliRunner().invoke(cli, ["-q", "-u", "-c", "t", "provisioner", "profile",
                                        *args], obj=state)

    assert "No profiles found." in pvc("list").output
    r = pvc("add", "web", "-s", "small", "-x", "noop", "-u", "empty", "-a", "a=1", "-a", "b=2")
    assert r.exit_code == 0, r.output
    [web] = json.loads(pvc("list", "-f", "json").output)
    assert web["arguments"] == ["a=1", "b=2"]
    assert "noop" in pvc("list").output
    assert pvc("modify", "web", "-d").exit_code == 0
    assert json.loads(pvc("list", "-f", "json").output)[0]["arguments"] == []
    r = pvc("add", "db", "-s", "missing", "-x", "noop")
    assert r.exit_code != 0 and "missing" in r.output
    assert pvc("list", "-f", "raw").output.split() == ["web"]
    assert pvc("remove", "web", "-y").exit_code == 0
    assert json.loads(pvc("list", "-f", "json").output) == []
