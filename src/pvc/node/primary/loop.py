"""`PrimaryLoop`: a daemon thread that runs one round of work every `interval` seconds
while this node is the primary. A failed round is logged once per distinct message (a
Ceph or ZooKeeper outage does not flood the log), and the next round simply tries again.
Subclasses give `round()`, the thread's name and their log texts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pvc.common.errors import PVCError

log = logging.getLogger("pvcnoded")


class PrimaryLoop:
    name = "primary-loop"
    failed_text = "Primary round failed: %s"
    recovered_text = ""  # logged once a round works again after failures, if given

    def __init__(self, is_primary: Callable[[], bool], interval: float) -> None:
        self.is_primary = is_primary
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""

    def round(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.is_primary():
                continue
            try:
                self.round()
                if self._last_error and self.recovered_text:
                    log.info("%s", self.recovered_text)
                self._last_error = ""
            except PVCError as exc:
                if exc.message != self._last_error:
                    log.warning(self.failed_text, exc.message)
                self._last_error = exc.message
