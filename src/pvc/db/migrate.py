"""The schema brought up to date: Alembic's migrations (`pvc/db/migrations`), run by the
API when it starts (so an upgraded cluster migrates by itself) and by `pvc-dev`. Several
runs at once are serialized by a PostgreSQL advisory lock; a run finding the schema
current does nothing."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from pvc.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_KEY = 0x70766301  # "pvc" 1: the advisory lock of schema changes


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(db: Database) -> str | None:
    """Apply every migration not applied yet; the revision the schema is at."""
    with db.engine.begin() as conn:
        conn.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return current(db)


def current(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()
