"""A keyed work queue: any number of workers, but one key (a VM) is never handled by two
at once. Adding a key that is being handled marks it to run again afterwards, so no
change is missed and none is handled twice concurrently."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger("pvcnoded")


class WorkQueue:
    def __init__(self, handler: Callable[[str], None], workers: int, name: str) -> None:
        self.handler = handler
        self._cv = threading.Condition()
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._active: set[str] = set()
        self._again: set[str] = set()
        self._stopping = False
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()

    def add(self, key: str) -> None:
        with self._cv:
            if key in self._active:
                self._again.add(key)
            elif key not in self._pending:
                self._pending[key] = None
                self._cv.notify()

    def busy(self, key: str) -> bool:
        with self._cv:
            return key in self._active or key in self._pending

    def idle(self) -> bool:
        with self._cv:
            return not self._active and not self._pending

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return
                key, _ = self._pending.popitem(last=False)
                self._active.add(key)
            try:
                self.handler(key)
            except Exception:
                log.exception("Work on %s failed", key)
            finally:
                with self._cv:
                    self._active.discard(key)
                    if key in self._again:
                        self._again.discard(key)
                        self._pending[key] = None
                        self._cv.notify()
