"""Child processes of the daemons (stopped for good), the rounds of their reconcilers, and
what a daemon shows of itself when asked (SIGUSR1)."""

from __future__ import annotations

import ctypes
import faulthandler
import signal
import subprocess
import threading
from collections.abc import Iterator
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


def wakes(stopping: threading.Event, wake: threading.Event, period: float) -> Iterator[None]:
    """A reconciler's rounds: one each time `wake` is set and every `period` seconds
    anyway, until `stopping` is set."""
    while not stopping.is_set():
        wake.wait(period)
        wake.clear()
        if stopping.is_set():
            return
        yield


def stacks_on_sigusr1() -> None:
    """`kill -USR1 <pid>` writes every thread's stack to stderr (the journal) and the daemon
    goes on: what a hung daemon is waiting on, without a debugger on the server."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
