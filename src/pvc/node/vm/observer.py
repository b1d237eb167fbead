"""What running VMs show: their serial console (the log file libvirt writes for the
`<serial><log file=...>` element, tailed into ZooKeeper, the last `console_log_lines`
lines) and their statistics (every STATS_INTERVAL)."""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from pvc.common.errors import PVCError
from pvc.drivers.hypervisor.vms import VmHost
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")
CONSOLE_INTERVAL = 0.5
STATS_INTERVAL = 5.0


@dataclass
class _Tail:
    path: str
    offset: int = 0
    inode: int = 0
    partial: bytes = b""
    lines: collections.deque[str] = field(default_factory=collections.deque)
    # nothing to publish until the log has lines: a VM that just arrived (or started)
    # does not wipe what the console showed before with an empty buffer
    dirty: bool = False


class VmObserver:
    def __init__(self, store: Store, node: str, host: VmHost, max_lines: int,
                 running: Callable[[], dict[str, str]]) -> None:
        self.store = store
        self.node = node
        self.host = host
        self.max_lines = max(max_lines, 1)
        self.running = running  # {uuid: serial log path} of the VMs running here
        self._tails: dict[str, _Tail] = {}
        self._stats_at = 0.0
        self._published: set[str] = set()
        self._stop = threading.Event()
        self._tails_lock = threading.Lock()  # the observer's thread and last_words()

    def start(self) -> None:
        threading.Thread(target=self._run, name="vm-observer", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(CONSOLE_INTERVAL):
            try:
                here = self.running()
                with self._tails_lock:
                    self._consoles(here)
                if time.monotonic() - self._stats_at >= STATS_INTERVAL:
                    self._stats_at = time.monotonic()
                    self._stats(set(here))
            except (PVCError, KazooException, KazooTimeoutError) as exc:
                log.warning("VM observer: %s", exc)
            except Exception:
                log.exception("VM observer: unexpected error")

    # -- consoles -------------------------------------------------------------
    def _consoles(self, here: dict[str, str]) -> None:
        for uuid in set(self._tails) - set(here):
            # stopped (or moved) since the last look: keep its last words
            last = self._tails.pop(uuid)
            self._read(last)
            self._publish(uuid, last)
        for uuid, path in here.items():
            if not path:
                continue
            tail = self._tails.get(uuid)
            if tail is None or tail.path != path:
                tail = self._tails[uuid] = _Tail(path, lines=collections.deque(
                    maxlen=self.max_lines))
            self._read(tail)
            self._publish(uuid, tail)

    def last_words(self, uuid: str) -> None:
        """The VM's domain just ended here: publish the rest of its console now, before
        its new state does (the observer's own look may be half a second away)."""
        try:
            with self._tails_lock:
                tail = self._tails.pop(uuid, None)
                if tail is None:
                    path = self.running().get(uuid)
                    if not path:
                        return
                    tail = _Tail(path, lines=collections.deque(maxlen=self.max_lines))
                self._read(tail)
                self._publish(uuid, tail)
        except (PVCError, KazooException, KazooTimeoutError) as exc:
            log.warning("Console of VM %s not published: %s", uuid, exc)

    def _publish(self, uuid: str, tail: _Tail) -> None:
        if not tail.dirty:
            return
        try:
            self.store.write("domain.console_log", "\n".join(tail.lines), domain=uuid)
            tail.dirty = False
        except (PVCError, NoNodeError):
            pass  # removed meanwhile

    def _read(self, tail: _Tail) -> None:
        try:
            st = Path(tail.path).stat()
        except OSError:
            return
        if st.st_ino != tail.inode or st.st_size < tail.offset:
            # a new log (the VM started again here): start over
            tail.inode, tail.offset, tail.partial = st.st_ino, 0, b""
            tail.lines.clear()
        if st.st_size == tail.offset:
            return
        with open(tail.path, "rb") as fh:
            fh.seek(tail.offset)
            data = fh.read(st.st_size - tail.offset)
        tail.offset += len(data)
        chunks = (tail.partial + data).split(b"\n")
        tail.partial = chunks.pop()
        for raw in chunks:
            tail.lines.append(raw.decode(errors="replace").rstrip("\r"))
        tail.dirty = True

    # -- statistics -----------------------------------------------------------
    def _stats(self, here: set[str]) -> None:
        for uuid in here:
            stats = self.host.stats(uuid)
            if stats:
                stats["node"] = self.node
                try:
                    self.store.write("domain.stats", stats, domain=uuid)
                    self._published.add(uuid)
                except PVCError:
                    pass
        for uuid in self._published - here:
            self._published.discard(uuid)
            with contextlib.suppress(PVCError):
                self.store.write("domain.stats", {}, domain=uuid)
