"""A database made ready in the background. A daemon that starts while PostgreSQL is
still electing its leader must not wait for it, and the API must not pay for loading
SQLAlchemy before it serves (it starts on every takeover): so a thread, once `after()`
says the daemon is up, loads the database libraries, brings the schema up to date, and
tries again until that succeeds; users ask for the database when they need it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pvc.common.errors import Unavailable
from pvc.db.spec import DatabaseSpec

if TYPE_CHECKING:
    from pvc.db.engine import Database

log = logging.getLogger(__name__)


class PreparedDatabase:
    def __init__(self, spec: DatabaseSpec, retry_interval: float = 2.0,
                 retry_for: float = 30.0, wait: float = 10.0) -> None:
        self.spec = spec
        self.wait = wait
        self.retry_interval = retry_interval
        self.retry_for = retry_for
        self.db: Database | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self.last_error = "still starting"
        self._thread: threading.Thread | None = None

    def start(self, after: Callable[[], bool] | None = None) -> PreparedDatabase:
        self._thread = threading.Thread(target=self._prepare, args=(after,),
                                        name="db-prepare", daemon=True)
        self._thread.start()
        return self

    def _prepare(self, after: Callable[[], bool] | None) -> None:
        deadline = time.monotonic() + 30
        while after is not None and not after() and time.monotonic() < deadline:
            if self._stop.wait(0.05):
                return
        from pvc.db import migrate
        from pvc.db.engine import Database

        self.db = Database(self.spec, retry_for=self.retry_for)
        while not self._stop.is_set():
            try:
                revision = migrate.upgrade(self.db)
            except Exception as exc:  # unreachable, or still electing: try again
                self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.warning("Database %s not ready: %s", self.spec.describe(), self.last_error)
                self._stop.wait(self.retry_interval)
                continue
            log.info("Database %s ready at schema %s", self.spec.describe(), revision)
            self._ready.set()
            return

    def get(self) -> Database:
        """The database once its schema is current; Unavailable if it is not within
        `wait` seconds."""
        if not self._ready.wait(self.wait) or self.db is None:
            raise Unavailable(f"The provisioner database ({self.spec.describe()}) is not "
                              f"ready: {self.last_error}")
        return self.db

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.db is not None:
            self.db.close()
