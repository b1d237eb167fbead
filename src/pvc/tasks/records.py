"""The records of submitted tasks in Redis (`pvc:task:<id>`), and how a body's end is kept.

Celery reports PENDING for any id it knows nothing about, so each submitted id is recorded
(kept as long as results are): an id without a record was never submitted. When a body
finishes, its result is kept in the record too (under `finished`), so a task delivered again
(Celery delivers at least once: after a broker failover, or after its worker died between
the end of the body and the acknowledgement) returns that result instead of doing its work
twice.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.utils.url import maybe_sanitize_url

from pvc.common.errors import Unavailable

TASK_ID = re.compile(r"^[0-9a-f]{8}$")
RECORD_PREFIX = "pvc:task:"
# Seconds a result (and our record of a submitted task id) is kept after it was written.
RESULT_TTL = 7 * 24 * 3600
# What reaching Redis can raise (redis-py's errors, kombu's wrapped ones, sockets).
BROKER_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OperationalError, OSError)


def is_task_id(value: str) -> bool:
    return bool(TASK_ID.fullmatch(value))


def broker_unavailable(app: Celery, exc: BaseException) -> Unavailable:
    """The 503 error for a Redis that cannot be reached (or answered too slowly)."""
    url = maybe_sanitize_url(str(app.conf.broker_url))
    return Unavailable(f"The task broker (Redis at {url}) is unavailable: {exc or type(exc).__name__}")


def client_of(app: Celery) -> Any:
    """A Redis client on the master (the result store's)."""
    return app.backend.client


def record_key(task_id: str) -> str:
    return RECORD_PREFIX + task_id


def record(app: Celery, task_id: str, data: Mapping[str, Any]) -> bool:
    """Record a submitted id (False if the id is already taken)."""
    value = json.dumps(dict(data))
    try:
        return bool(client_of(app).set(record_key(task_id), value, nx=True, ex=RESULT_TTL))
    except BROKER_ERRORS as exc:
        raise broker_unavailable(app, exc) from exc


def forget(app: Celery, task_id: str) -> None:
    with contextlib.suppress(*BROKER_ERRORS):
        client_of(app).delete(record_key(task_id))


def lookup(app: Celery, task_id: str) -> dict[str, Any] | None:
    """The record of a submitted task, or None if this id was never submitted (or expired)."""
    if not is_task_id(task_id):
        return None
    try:
        raw = client_of(app).get(record_key(task_id))
    except BROKER_ERRORS as exc:
        raise broker_unavailable(app, exc) from exc
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def ping(app: Celery) -> None:
    """Unavailable unless Redis answers."""
    try:
        client_of(app).ping()
    except BROKER_ERRORS as exc:
        raise broker_unavailable(app, exc) from exc


def mark_begun(app: Celery, task_id: str, found: Mapping[str, Any]) -> dict[str, Any]:
    """Count a run of the task's body in its record `found` (`runs`); the record as
    written. A count above 1 tells a body that an earlier run was cut short."""
    updated = {**found, "runs": int(found.get("runs", 0) or 0) + 1}
    client_of(app).set(record_key(task_id), json.dumps(updated), xx=True, keepttl=True)
    return updated


def mark_finished(app: Celery, task_id: str, found: Mapping[str, Any],
                  result: Mapping[str, Any]) -> None:
    """Keep the result of a body that finished in its record `found` (as `lookup` read
    it), under `finished`."""
    value = json.dumps({**found, "finished": dict(result)})
    client_of(app).set(record_key(task_id), value, xx=True, keepttl=True)
