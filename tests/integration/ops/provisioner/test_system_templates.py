"""System templates on a real PostgreSQL: defaults, changes, and every refusal leaving
the table as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.db import migrate
from pvc.db.engine import Database
from pvc.db.models import Profile, SystemTemplate
from pvc.ops.provisioner import system_templates as st
from pvc.ops.provisioner.system_templates import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def pdb(db: Database) -> Iterator[Database]:
    migrate.upgrade(db)
    yield db


def small(**kw: object) -> Settings:
    base: dict[str, object] = {"vcpu_count": 1, "vram_mb": 512, "serial": True, "vnc": False}
    return Settings(**{**base, **kw})  # type: ignore[arg-type]


def test_a_template_gets_pvc_defaults_and_is_listed_by_name(pdb: Database) -> None:
    st.add(pdb, "small", small())
    st.add(pdb, "big", small(vcpu_count=4, vram_mb=4096, node_limit="hv1, hv2",
                             node_selector="mem", node_autostart=True,
                             migration_method="live", migration_max_downtime=500,
                             vnc=True, vnc_bind="0.0.0.0"))
    assert [t["name"] for t in st.list_templates(pdb)] == ["big", "small"]
    got = st.get(pdb, "small")
    assert {k: got[k] for k in ("vcpu_count", "vram_mb", "serial", "vnc", "vnc_bind",
                                "node_limit", "node_selector", "node_autostart",
                                "migration_method", "migration_max_downtime")} == {
        "vcpu_count": 1, "vram_mb": 512, "serial": True, "vnc": False, "vnc_bind": None,
        "node_limit": None, "node_selector": "none", "node_autostart": False,
        "migration_method": "none", "migration_max_downtime": 300}
    assert isinstance(got["id"], int)
    big = st.get(pdb, "big")
    assert (big["node_limit"], big["vnc_bind"], big["migration_max_downtime"]) == (
        "hv1,hv2", "0.0.0.0", 500)
    assert [t["name"] for t in st.list_templates(pdb, "^b")] == ["big"]


def test_a_change_touches_only_what_it_names(pdb: Database) -> None:
    st.add(pdb, "small", small(node_selector="load"))
    st.modify(pdb, "small", Settings(vram_mb=1024))
    got = st.get(pdb, "small")
    assert (got["vram_mb"], got["vcpu_count"], got["node_selector"]) == (1024, 1, "load")


@pytest.mark.parametrize(("name", "settings", "error", "message"), [
    ("bad name", small(), InvalidArgument, "name"),
    ("x;drop", small(), InvalidArgument, "name"),
    ("t", Settings(vcpu_count=1, vram_mb=512, serial=True), InvalidArgument, "vnc"),
    ("t", small(vcpu_count=0), InvalidArgument, "vCPU"),
    ("t", small(vram_mb=8), InvalidArgument, "memory"),
    ("t", small(node_selector="fastest"), InvalidArgument, "selector"),
    ("t", small(migration_method="teleport"), InvalidArgument, "migration method"),
    ("t", small(migration_max_downtime=0), InvalidArgument, "downtime"),
    ("t", small(vnc_bind="everywhere"), InvalidArgument, "VNC bind"),
    ("t", small(node_limit="hv1,Bad_Node"), InvalidArgument, "node"),
])
def test_bad_settings_are_refused_and_nothing_is_created(
        pdb: Database, name: str, settings: Settings, error: type[Exception],
        message: str) -> None:
    with pytest.raises(error, match=message):
        st.add(pdb, name, settings)
    assert st.list_templates(pdb) == []


def test_duplicates_unknown_names_and_templates_in_use(pdb: Database) -> None:
    st.add(pdb, "small", small())
    with pytest.raises(AlreadyExists, match="small"):
        st.add(pdb, "small", small(vcpu_count=2))
    assert st.get(pdb, "small")["vcpu_count"] == 1
    with pytest.raises(NotFound, match="nope"):
        st.get(pdb, "nope")
    with pytest.raises(NotFound, match="nope"):
        st.modify(pdb, "nope", Settings(vram_mb=1024))
    with pytest.raises(InvalidArgument, match="Nothing to change"):
        st.modify(pdb, "small", Settings())
    with pytest.raises(InvalidArgument, match="memory"):
        st.modify(pdb, "small", Settings(vram_mb=1))
    assert st.get(pdb, "small")["vram_mb"] == 512

    def in_use(s: object) -> None:
        from sqlalchemy import select
        from sqlalchemy.orm import Session
        assert isinstance(s, Session)
        template = s.scalars(select(SystemTemplate)).one()
        s.add(Profile(name="p", system_template=template.id))

    pdb.run(in_use)
    with pytest.raises(Conflict, match="profile"):
        st.remove(pdb, "small")
    assert [t["name"] for t in st.list_templates(pdb)] == ["small"]


def test_a_bad_limit_is_a_clear_error(pdb: Database) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        st.list_templates(pdb, "([")
