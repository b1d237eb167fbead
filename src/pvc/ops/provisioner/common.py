"""What the provisioner's objects share: names, lookups by name, and the database's
refusals in the error tree."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from pvc.common import names
from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.db.engine import Database

M = TypeVar("M")
T = TypeVar("T")


def object_name(value: str, what: str) -> str:
    return names.object_name(value, what)


def limited(stmt: Select[Any], column: Any, limit: str | None) -> Select[Any]:
    """Only the names matching `limit`, a regex as PVC's `limit` is (anywhere in the
    name unless anchored); checked here so a bad one is a 400, not a database error."""
    if not limit:
        return stmt
    try:
        re.compile(limit)
    except re.error as exc:
        raise InvalidArgument(f"Invalid limit {limit!r}: {exc}") from None
    return stmt.where(column.regexp_match(limit))


def one(session: Session, model: type[M], name: str, what: str) -> M:
    found = session.scalars(select(model).where(model.name == name)).one_or_none()  # type: ignore[attr-defined]
    if found is None:
        raise NotFound(f"The {what} {name!r} does not exist")
    return found


def write(db: Database, work: Callable[[Session], T], what: str, name: str) -> T:
    """`work` in one transaction; the database's refusals as the error tree's."""
    try:
        return db.run(work)
    except sqlalchemy.exc.IntegrityError as exc:
        code = getattr(exc.orig, "sqlstate", None)
        if code == "23505":  # unique_violation
            raise AlreadyExists(f"The {what} {name!r} already exists") from None
        if code == "23503":  # foreign_key_violation: something still names it
            raise Conflict(f"The {what} {name!r} is used by a profile; change or remove "
                           "the profile first") from None
        raise InvalidArgument(f"The {what} {name!r} was refused: {exc.orig}") from None
