"""Stopping a child process for good."""

from __future__ import annotations

import subprocess
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
