"""What /proc says about a process that pvc-dev started (so it stops only its own)."""

from __future__ import annotations

from pathlib import Path


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
