"""Reaching the writable PostgreSQL member and surviving its loss, on a real server."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pvc.common.errors import BackendError
from pvc.db.engine import Database
from tests.integration.pgsupport import PgServer

pytestmark = pytest.mark.integration


def test_work_whose_connection_is_cut_runs_again_on_a_new_one(db: Database,
                                                              pg_server: PgServer) -> None:
    backends: list[int] = []

    def work(s: Session) -> str:
        backends.append(s.execute(select(func.pg_backend_pid())).scalar_one())
        if len(backends) == 1:  # the server goes away under the first try
            with pg_server.admin() as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (backends[0],))
            s.execute(select(1))
        return "done"

    assert db.run(work) == "done"
    assert len(backends) == 2 and backends[0] != backends[1]


def test_an_error_of_the_work_itself_is_not_retried(db: Database) -> None:
    tries: list[int] = []

    def work(s: Session) -> None:
        tries.append(1)
        s.execute(select(func.no_such_function()))

    with pytest.raises(Exception, match="no_such_function"):
        db.run(work)
    assert len(tries) == 1


def test_members_that_do_not_answer_are_skipped(db: Database) -> None:
    spec = dataclasses.replace(db.spec, hosts=["127.0.0.2", *db.spec.hosts])
    other = Database(spec)
    try:
        assert other.run(lambda s: s.execute(select(func.current_database())).scalar_one()
                         ) == db.spec.database
    finally:
        other.close()


def test_no_member_answering_is_a_clear_error_after_the_retry_time(db: Database) -> None:
    spec = dataclasses.replace(db.spec, hosts=["127.0.0.2"])
    other = Database(spec, retry_for=1)
    try:
        with pytest.raises(BackendError, match="has no writable member"):
            other.run(lambda s: s.execute(select(1)))
    finally:
        other.close()
