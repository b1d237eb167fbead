"""Child processes of the daemons (stopped for good), the rounds of their reconcilers, and
what a daemon shows of itself when asked (SIGUSR1)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pvc.common.errors import BackendError

_PR_SET_PDEATHSIG = 1


def stop(proc: subprocess.Popen[Any] | None, grace: float = 10.0,
         close_stdin: bool = False) -> None:
    """Ask the child to end (SIGTERM, or with `close_stdin` by closing its stdin pipe),
    SIGKILL it after `grace` s: it is gone (and reaped) when this returns."""
    if proc is None or proc.poll() is not None:
        return
    if close_stdin and proc.stdin:
        proc.stdin.close()
    else:
        proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the daemon (its parent) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Child:
    """A long-running child process of a daemon (dnsmasq, PowerDNS): its output goes to
    its log file, and it dies with the daemon."""

    proc: subprocess.Popen[bytes] | None = None

    def spawn(self, argv: list[str], log_file: Path, what: str) -> None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_file, "ab") as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=log, preexec_fn=die_with_parent,
                                             close_fds=True)
        except OSError as exc:
            raise BackendError(f"Cannot start {what}: {exc}") from exc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, grace: float = 3.0) -> None:
        proc, self.proc = self.proc, None
        stop(proc, grace)


class Restarts:
    """When a supervised child that keeps exiting may start again: at once after a run
    that lasted `steady` seconds, else after a wait that doubles with each short run, from
    `first` up to `most` seconds (a child that cannot start is not started every round)."""

    def __init__(self, first: float = 5.0, most: float = 60.0, steady: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.first, self.most, self.steady, self.clock = first, most, steady, clock
        self.delay = 0.0  # the wait after the last exit
        self._started: float | None = None
        self._not_before = 0.0

    def may_start(self) -> bool:
        return self.clock() >= self._not_before

    def started(self) -> None:
        self._started = self.clock()

    def exited(self) -> float:
        """The child was found gone: the seconds until it may start again."""
        now = self.clock()
        ran = now - self._started if self._started is not None else self.steady
        self.delay = 0.0 if ran >= self.steady else min(self.most, max(self.first,
                                                                        self.delay * 2))
        self._started = None
        self._not_before = now + self.delay
        return self.delay

    def reset(self) -> None:
        """Stopped on purpose: the next start is at once."""
        self.delay, self._started, self._not_before = 0.0, None, 0.0


def wakes(stopping: threading.Event, wake: threading.Event, period: float) -> Iterator[None]:
    """A reconciler's rounds: one each time `wake` is set and every `period` seconds
    anyway, until `stopping` is set."""
    while not stopping.is_set():
        wake.wait(period)
        wake.clear()
        if stopping.is_set():
            return
        yield


def thread_stacks() -> str:
    """Every thread's stack, named, most recent call last."""
    names = {t.ident: t.name for t in threading.enumerate()}
    frames = sys._current_frames()
    lines = [f"The stacks of {len(frames)} threads (most recent call last):"]
    for ident, frame in frames.items():
        lines.append(f"Thread {names.get(ident, '?')} ({ident:#x}):")
        lines.extend(entry.rstrip("\n") for entry in traceback.format_stack(frame))
    return "\n".join(lines) + "\n"


def _write_stacks(signum: int, frame: Any) -> None:
    with contextlib.suppress(Exception):  # a diagnostic never stops the daemon
        os.write(2, thread_stacks().encode(errors="replace"))


def stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` writes every thread's stack to stderr (the journal) and the daemon
    goes on: what a hung daemon is waiting on, without a debugger on the server. A Python
    handler (it runs in the main thread between two instructions), not faulthandler's: its
    dump of all threads, made from inside the signal without the interpreter's lock, took
    pvcnoded and pvcapid down with SIGSEGV on a loaded server."""
    signal.signal(signal.SIGUSR1, _write_stacks)
