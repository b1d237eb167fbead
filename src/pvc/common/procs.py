"""Child processes of the daemons (stopped for good), and the rounds of their reconcilers."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from typing import Any


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


class Child:
    """A long-running child process of a daemon (dnsmasq, PowerDNS)."""

    proc: subprocess.Popen[bytes] | None = None

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
