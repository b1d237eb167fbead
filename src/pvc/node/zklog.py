"""Daemon log lines, also kept in a bounded per-node buffer in ZooKeeper (`pvc node log`).

Lines are batched: every flush creates one sequential chunk znode under /logs/<node>
holding the new lines; the oldest chunks are deleted once the buffer holds more than
`node_log_lines`. A logging handler never blocks on ZooKeeper: it only queues.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading

from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from pvc.state.store import Store

CHUNK_PREFIX = "c-"


class ZkLogBuffer(logging.Handler):
    def __init__(self, store: Store, node: str, max_lines: int, flush_interval: float = 0.5):
        super().__init__()
        self.store = store
        self.node = node
        self.max_lines = max(max_lines, 1)
        self.flush_interval = flush_interval
        self._pending: collections.deque[str] = collections.deque(maxlen=self.max_lines)
        self._chunks: collections.deque[tuple[str, int]] = collections.deque()
        self._total = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zklog", daemon=True)
        self._loaded = False

    @property
    def base(self) -> str:
        return self.store.path("logs.node", node=self.node)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a bad log call must never break the daemon
            self.handleError(record)
            return
        with self._lock:
            self._pending.append(line)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
        self._flush()

    def _load(self) -> None:
        self.store.zk.ensure_path(self.base)
        kids = sorted(k for k in self.store.zk.get_children(self.base)
                      if k.startswith(CHUNK_PREFIX))
        for kid in kids:
            try:
                data, _ = self.store.zk.get(f"{self.base}/{kid}")
            except NoNodeError:
                continue
            count = data.count(b"\n") + 1 if data else 0
            self._chunks.append((kid, count))
            self._total += count
        self._loaded = True

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            lines = list(self._pending)
            self._pending.clear()
        if not lines:
            return
        try:
            if not self._loaded:
                self._load()
            path = self.store.zk.create(
                f"{self.base}/{CHUNK_PREFIX}", "\n".join(lines).encode(), sequence=True
            )
            self._chunks.append((path.rsplit("/", 1)[1], len(lines)))
            self._total += len(lines)
            while self._chunks and self._total - self._chunks[0][1] >= self.max_lines:
                kid, count = self._chunks.popleft()
                self._total -= count
                with contextlib.suppress(NoNodeError):
                    self.store.zk.delete(f"{self.base}/{kid}")
        except (KazooException, KazooTimeoutError):
            # ZooKeeper is unreachable: keep the newest lines for the next try
            with self._lock:
                for line in reversed(lines):
                    self._pending.appendleft(line)
                self._loaded = False
                self._chunks.clear()
                self._total = 0
