"""The relational schema on a real PostgreSQL: Alembic's migrations build exactly what the
models describe, runs are idempotent and serialized, and the built-in userdata exists."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pvc.db import migrate
from pvc.db.engine import Database
from pvc.db.models import Base, Profile, SystemTemplate, Userdata

pytestmark = pytest.mark.integration


def test_the_migrations_build_what_the_models_describe(db: Database) -> None:
    assert migrate.current(db) is None
    assert migrate.upgrade(db) == migrate.head() == "0001"
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_an_upgrade_of_a_current_schema_changes_nothing(db: Database) -> None:
    migrate.upgrade(db)
    db.run(lambda s: s.add(Userdata(name="web", userdata="#cloud-config\n")))
    assert migrate.upgrade(db) == "0001"
    names = db.run(lambda s: sorted(s.scalars(select(Userdata.name)).all()))
    assert names == ["empty", "web"]


def test_upgrades_started_together_are_serialized(db: Database) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(db)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert db.run(lambda s: s.scalars(select(Userdata.name)).all()) == ["empty"]


def test_a_template_named_by_a_profile_cannot_be_removed(db: Database) -> None:
    migrate.upgrade(db)

    def setup(s: object) -> None:
        from sqlalchemy.orm import Session
        assert isinstance(s, Session)
        t = SystemTemplate(name="small", vcpu_count=1, vram_mb=512, serial=True, vnc=False)
        s.add(t)
        s.flush()
        s.add(Profile(name="p", system_template=t.id))

    db.run(setup)
    with pytest.raises(IntegrityError):
        db.run(lambda s: s.delete(s.scalars(select(SystemTemplate)).one()))
    assert db.run(lambda s: s.scalars(select(SystemTemplate.name)).all()) == ["small"]
