"""`TaskService`: what the API does with tasks (submit, status, listing), on one Celery app.

Every call fails fast with `Unavailable` (503) when Redis cannot be reached; nothing here
waits longer than a few seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery

from pvc.common.config import Config
from pvc.common.errors import NotFound, PVCError, Unavailable
from pvc.tasks import records, status, submit
from pvc.tasks.app import make_app

# Seconds to wait for the workers' answers to `GET /tasks` (they answer in milliseconds).
INSPECT_TIMEOUT = 1.0
WORKER_PREFIX = "pvcworkerd@"


def worker_name(node: str) -> str:
    """The Celery name of a node's worker."""
    return f"{WORKER_PREFIX}{node}"


class TaskService:
    def __init__(self, app: Celery, *, inspect_timeout: float = INSPECT_TIMEOUT,
                 expected_workers: int | None = None) -> None:
        self.app = app
        self.inspect_timeout = inspect_timeout
        # With the number of workers known, a listing ends as soon as all have answered.
        self.expected_workers = expected_workers

    @classmethod
    def from_config(cls, config: Config) -> TaskService:
        try:
            app = make_app(config)
        except PVCError as exc:
            raise Unavailable(f"The task broker is not configured: {exc.message}") from exc
        return cls(app, expected_workers=len(config.all_nodes) or None)

    def submit(self, name: str, args: Sequence[Any] = (),
               kwargs: Mapping[str, Any] | None = None, *, run_on: str) -> dict[str, Any]:
        """Send a task to `run_on`'s worker: `{"task_id", "task_name", "run_on"}`."""
        return submit.submit(self.app, name, args, kwargs, run_on=run_on)

    def status(self, task_id: str) -> dict[str, Any]:
        """The `GET /tasks/{id}` body; NotFound for an id that was never submitted."""
        record = records.lookup(self.app, task_id)
        if record is None:
            raise NotFound(f"Task {task_id} not found")
        try:
            meta = self.app.backend.get_task_meta(task_id)
        except records.BROKER_ERRORS as exc:
            raise records.broker_unavailable(self.app, exc) from exc
        body = status.task_status(meta)
        for key in ("task_name", "run_on"):
            if isinstance(record.get(key), str):
                body[key] = record[key]
        return body

    def _inspect(self, section: str) -> dict[str, Any] | None:
        inspector = self.app.control.inspect(timeout=self.inspect_timeout,
                                             limit=self.expected_workers)
        reply = getattr(inspector, section)()
        return reply if isinstance(reply, dict) else None

    def listing(self) -> dict[str, Any]:
        """The `GET /tasks` body: what every worker runs, holds and has scheduled."""
        records.ping(self.app)
        sections = status.LISTING_SECTIONS
        try:
            with ThreadPoolExecutor(max_workers=len(sections)) as pool:
                futures = {s: pool.submit(self._inspect, s) for s in sections}
                replies = {s: f.result() for s, f in futures.items()}
        except records.BROKER_ERRORS as exc:
            raise records.broker_unavailable(self.app, exc) from exc
        return status.task_listing(replies)

    def close(self) -> None:
        self.app.close()
