"""Watching the tiny guest work from outside: with `tick_ms` set (see
`pvc.devcluster.guest.xml.domain_xml`) it prints `pvc-tick N` on its serial console that
often, N counting up from its boot. A `TickLog` tails one console log file (libvirt writes
it as the guest prints) and notes when each tick appears; across the logs of the nodes a
guest migrates between, the longest silence is the time it did no work, and a count that
goes back means it booted again. (The guest's own clock cannot tell: under TCG it stops
while the VM is paused.)"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
from pathlib import Path

TICK = re.compile(rb"^pvc-tick (\d+)$")


class TickLog:
    """Tails a console log file; `seen` is (monotonic time it appeared, N) of each tick.
    With `from_end`, what the file holds already is skipped (a guest's earlier run)."""

    def __init__(self, path: Path, from_end: bool = False) -> None:
        self.path = path
        self._offset, self._inode = 0, -1
        if from_end:
            with contextlib.suppress(OSError):
                st = path.stat()
                self._offset, self._inode = st.st_size, st.st_ino
        self.seen: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        offset, inode, partial = self._offset, self._inode, b""
        while not self._stop.is_set():
            try:
                st = self.path.stat()
            except OSError:
                time.sleep(0.001)
                continue
            if st.st_ino != inode or st.st_size < offset:
                offset, inode, partial = 0, st.st_ino, b""
            if st.st_size > offset:
                with open(self.path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
                offset += len(data)
                now = time.monotonic()
                lines = (partial + data).split(b"\n")
                partial = lines.pop()
                for line in lines:
                    found = TICK.match(line.strip())
                    if found:
                        self.seen.append((now, int(found.group(1))))
            time.sleep(0.001)

    def __enter__(self) -> TickLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def merged(logs: list[TickLog]) -> list[tuple[float, int]]:
    """Every tick of these logs in the order they appeared."""
    return sorted(itertools.chain.from_iterable(log.seen for log in logs))


def longest_silence(logs: list[TickLog]) -> float:
    """The longest time in seconds between two ticks appearing in any of these logs (0
    with fewer than two ticks)."""
    stamps = [t for t, _ in merged(logs)]
    return max((b - a for a, b in itertools.pairwise(stamps)), default=0.0)


def restarts(logs: list[TickLog]) -> list[tuple[int, int]]:
    """(count, the next count) wherever the count went back, in the order the ticks
    appeared: the guest booted again there."""
    stamps = merged(logs)
    return [(a, b) for (_, a), (_, b) in itertools.pairwise(stamps) if b < a]
