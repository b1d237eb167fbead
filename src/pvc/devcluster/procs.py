"""What /proc says about a process that pvc-dev started (so it stops only its own), and
running a command to its end."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pvc.common.errors import BackendError


def cmdline(pid: int) -> list[str]:
    """The process's arguments ([] if there is no such process)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def state(pid: int) -> str | None:
    """The /proc state letter (R, S, Z, ...), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def run(argv: list[str], what: str, timeout: float = 300.0) -> str:
    """Run a command to its end; its output, or a BackendError saying what could not be
    done with the last lines the command printed."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"Cannot {what}: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise BackendError(f"Cannot {what}: {tail}")
    return done.stdout
