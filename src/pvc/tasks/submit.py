"""Sending a task to a node's worker.

Every node's worker consumes one queue named after the node (its short hostname), so a
task runs on the node named by `run_on`. Task ids are the first 8 hex digits of a UUID4, as
PVC's. Each id is recorded (`pvc.tasks.records`) with SET NX before the task is sent, which
also keeps two tasks from sharing a short id; `GET /tasks/{id}` answers 404 for an id
without a record.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery
from kombu.exceptions import EncodeError

from pvc.common import names
from pvc.common.errors import Conflict, InvalidArgument, PVCError
from pvc.tasks import catalogue, registry
from pvc.tasks.records import (
    BROKER_ERRORS,
    RESULT_TTL,
    broker_unavailable,
    client_of,
    forget,
    record,
    record_key,
)

log = logging.getLogger(__name__)

ID_ATTEMPTS = 8
# Seconds a new task waits for a replica to hold it (see the module documentation).
REPLICA_WAIT = 2.0


def new_task_id() -> str:
    """A task id as PVC makes them: the first 8 hex digits of a UUID4."""
    return uuid.uuid4().hex[:8]


def queue_for(node: str) -> str:
    """The queue of a node's worker: the node's (short host) name."""
    return names.node_name(node)


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
    await_replica(app, task_id)
    return {"task_id": task_id, "task_name": name, "run_on": queue}


def await_replica(app: Celery, task_id: str) -> bool | None:
    """Whether a replica holds the task `task_id` (sent already); None when the master has
    no replica to wait for (a single Redis)."""
    client = client_of(app)
    try:
        if not int(client.info("replication").get("connected_slaves", 0)):
            return None
        pipe = client.pipeline(transaction=False)  # one connection: WAIT covers the write
        pipe.expire(record_key(task_id), RESULT_TTL)
        pipe.execute_command("WAIT", 1, int(REPLICA_WAIT * 1000))
        acked = int(pipe.execute()[-1])
    except BROKER_ERRORS as exc:
        log.warning("Task %s was sent but its replication is unknown: %s", task_id, exc)
        return False
    if not acked:
        log.warning("Task %s is queued on the Redis master but no replica has it after "
                    "%.0f s: it is lost if the master is lost now", task_id, REPLICA_WAIT)
    return acked > 0
