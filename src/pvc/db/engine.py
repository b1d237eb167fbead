"""A connection to whichever PostgreSQL member leads now.

Every coordinator runs a member; only the leader takes writes. The connection string
names all of them with `target_session_attrs=read-write`, so libpq tries each in turn
and keeps the writable one. A unit of work that loses its server (the leader's node
died, or it was demoted) is run again on a fresh connection until `retry_for` seconds
have passed: Patroni names a new leader within its TTL, and nothing committed is lost
(replication is synchronous), so the retried work sees everything that was committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
import sqlalchemy.exc
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from pvc.common.errors import BackendError
from pvc.db.spec import DatabaseSpec

T = TypeVar("T")


def _transient(exc: BaseException) -> bool:
    """A failure that another try on a fresh connection may not have: the server is
    gone or no longer the leader."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    return isinstance(exc, (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction,
                            psycopg.errors.AdminShutdown))


class Database:
    def __init__(self, spec: DatabaseSpec, retry_for: float = 30.0) -> None:
        self.spec = spec
        self.retry_for = retry_for
        self.engine: Engine = create_engine(
            "postgresql+psycopg://", creator=lambda: psycopg.connect(spec.conninfo()),
            pool_pre_ping=True, pool_size=4, max_overflow=4, pool_recycle=300)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def run(self, work: Callable[[Session], T]) -> T:
        """`work` in one transaction, run again on a fresh connection while the failure
        is the server's (see the module's text); other errors pass through at once."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.2
        while True:
            try:
                with self.session() as session:
                    return work(session)
            except (sqlalchemy.exc.DBAPIError, psycopg.Error) as exc:
                if not _transient(exc):
                    raise
                if time.monotonic() > deadline:
                    raise BackendError(f"The database ({self.spec.describe()}) has no "
                                       f"writable member: {exc}") from exc
                self.engine.dispose()  # the pooled connections may all lead nowhere
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
