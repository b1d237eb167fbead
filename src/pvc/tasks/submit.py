"""Sending a task to a node's worker, and the record of the task ids we handed out.

Every node's worker consumes one queue named after the node (its short hostname), so a
task runs on the node named by `run_on`. Task ids are the first 8 hex digits of a UUID4, as
PVC's. Celery reports PENDING for any id it knows nothing about, so each submitted id is
also recorded in Redis (`pvc:task:<id>`, kept as long as results are); an id without a
record was never submitted and `GET /tasks/{id}` answers 404 for it. The record is created
with SET NX before the task is sent, which also keeps two tasks from sharing a short id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import EncodeError, OperationalError
from kombu.utils.url import maybe_sanitize_url

from pvc.common import names
from pvc.common.errors import Conflict, InvalidArgument, PVCError, Unavailable
from pvc.tasks import catalogue, registry
from pvc.tasks.app import RESULT_TTL

log = logging.getLogger(__name__)

TASK_ID = re.compile(r"^[0-9a-f]{8}$")
RECORD_PREFIX = "pvc:task:"
ID_ATTEMPTS = 8
# What reaching Redis can raise (redis-py's errors, kombu's wrapped ones, sockets).
BROKER_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OperationalError, OSError)
# Seconds a new task waits for a replica to hold it (see the module documentation).
REPLICA_WAIT = 2.0


def new_task_id() -> str:
    """A task id as PVC makes them: the first 8 hex digits of a UUID4."""
    return uuid.uuid4().hex[:8]


def is_task_id(value: str) -> bool:
    return bool(TASK_ID.match(value))


def queue_for(node: str) -> str:
    """The queue of a node's worker: the node's (short host) name."""
    return names.node_name(node)


def broker_unavailable(app: Celery, exc: BaseException) -> Unavailable:
    """The 503 error for a Redis that cannot be reached (or answered too slowly)."""
    url = maybe_sanitize_url(str(app.conf.broker_url))
    return Unavailable(f"The task broker (Redis at {url}) is unavailable: {exc or type(exc).__name__}")


def _client(app: Celery) -> Any:
    return app.backend.client


def _record_key(task_id: str) -> str:
    return RECORD_PREFIX + task_id


def record(app: Celery, task_id: str, data: Mapping[str, Any]) -> bool:
    """Record a submitted id (False if the id is already taken)."""
    value = json.dumps(dict(data))
    try:
        return bool(_client(app).set(_record_key(task_id), value, nx=True, ex=RESULT_TTL))
    except BROKER_ERRORS as exc:
        raise broker_unavailable(app, exc) from exc


def forget(app: Celery, task_id: str) -> None:
    with contextlib.suppress(*BROKER_ERRORS):
        _client(app).delete(_record_key(task_id))


def lookup(app: Celery, task_id: str) -> dict[str, Any] | None:
    """The record of a submitted task, or None if this id was never submitted (or expired)."""
    if not is_task_id(task_id):
        return None
    try:
        raw = _client(app).get(_record_key(task_id))
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
        _client(app).ping()
    except BROKER_ERRORS as exc:
        raise broker_unavailable(app, exc) from exc


def submit(app: Celery, name: str, args: Sequence[Any] = (),
           kwargs: Mapping[str, Any] | None = None, *, run_on: str) -> dict[str, Any]:
    """Send task `name` to the worker of node `run_on`; the 202 body of PVC's API:
    `{"task_id", "task_name", "run_on"}`."""
    registry.task_name(name)
    if not catalogue.known(name):
        raise InvalidArgument(f"Unknown task {name!r}: no worker can run it")
    queue = queue_for(run_on)
    task_args, task_kwargs = list(args), dict(kwargs or {})
    try:
        json.dumps([task_args, task_kwargs])
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"The arguments of task {name} are not JSON: {exc}") from exc
    meta = {"task_name": name, "run_on": queue, "submitted": time.time()}
    for _ in range(ID_ATTEMPTS):
        task_id = new_task_id()
        if record(app, task_id, meta):
            break
    else:
        raise Conflict("Could not find a free task id; try again")
    try:
        app.send_task(name, args=task_args, kwargs=task_kwargs, task_id=task_id,
                      queue=queue, routing_key=queue)
    except EncodeError as exc:
        forget(app, task_id)
        raise InvalidArgument(f"The arguments of task {name} cannot be sent: {exc}") from exc
    except PVCError:
        forget(app, task_id)
        raise
    except BROKER_ERRORS as exc:
        forget(app, task_id)
        raise broker_unavailable(app, exc) from exc
    await_replica(app, task_id, meta)
    return {"task_id": task_id, "task_name": name, "run_on": queue}


def await_replica(app: Celery, task_id: str, meta: Mapping[str, Any]) -> bool | None:
    """Whether a replica holds the task `task_id` (sent already); None when the master has
    no replica to wait for (a single Redis)."""
    client = _client(app)
    try:
        if not int(client.info("replication").get("connected_slaves", 0)):
            return None
        pipe = client.pipeline(transaction=False)  # one connection: WAIT covers the SET
        pipe.set(_record_key(task_id), json.dumps(dict(meta)), xx=True, keepttl=True)
        pipe.execute_command("WAIT", 1, int(REPLICA_WAIT * 1000))
        acked = int(pipe.execute()[-1])
    except BROKER_ERRORS as exc:
        log.warning("Task %s was sent but its replication is unknown: %s", task_id, exc)
        return False
    if not acked:
        log.warning("Task %s is queued on the Redis master but no replica has it after "
                    "%.0f s: it is lost if the master is lost now", task_id, REPLICA_WAIT)
    return acked > 0
