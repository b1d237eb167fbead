"""Giving a node's worker back the tasks its previous run took and never finished.

A worker acknowledges a task's message only when the task ended (`task_acks_late`); until
then kombu keeps the message in Redis under `unacked`. A worker that dies (its node powered
off or fenced, SIGKILL) leaves its messages there, and Redis would hand them out again only
after the visibility timeout: hours. But each node's queue has exactly one consumer, its
own worker, so whatever is unacknowledged for that queue when the worker starts belongs to
a run of it that is gone: `restore_own` puts it back at the head of the queue at once, and
the new run picks it up first (the body then reaches the same end, `pvc.tasks.registry`).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from celery import Celery

from pvc.tasks.records import BROKER_ERRORS

log = logging.getLogger(__name__)

RETRY_PAUSE = 2.0


def _routing_key(raw: Any) -> str | None:
    try:
        _message, _exchange, routing_key = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return routing_key if isinstance(routing_key, str) else None


def restore_own(app: Celery, queue: str) -> list[str]:
    """Put the unacknowledged messages of `queue` back at its head; their delivery tags.
    Call it before the worker of `queue` consumes anything."""
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel
        client = channel.client
        restored = []
        for tag, raw in client.hgetall(channel.unacked_key).items():
            if _routing_key(raw) == queue:
                channel.qos.restore_by_tag(tag, leftmost=True)
                restored.append(tag.decode() if isinstance(tag, bytes) else str(tag))
        return restored


def restore_own_when_reachable(app: Celery, queue: str) -> int:
    """`restore_own`, retried until Redis answers: a worker that starts while the broker
    fails over still gets its tasks back. The number restored."""
    warned = 0.0
    while True:
        try:
            restored = restore_own(app, queue)
        except BROKER_ERRORS as exc:
            now = time.monotonic()
            if now - warned > 30:
                log.warning("Waiting for Redis to look for unfinished tasks of queue %s: %s",
                            queue, exc)
                warned = now
            time.sleep(RETRY_PAUSE)
            continue
        if restored:
            log.info("Gave back %d unfinished task(s) of a previous run to queue %s",
                     len(restored), queue)
        return len(restored)
