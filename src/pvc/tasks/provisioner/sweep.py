"""What a provisioning build leaves on its node when its worker dies in the middle: its
work directory (`pvc-provision-*` in the worker's TMPDIR) with filesystems mounted under
it, loop devices on its export files and the qemu-storage-daemon processes that serve
them. pvcworkerd sweeps them away when it starts, before it takes any task (a build runs
only inside a worker, so every such directory then belongs to a dead one): filesystems
unmounted, loop devices detached, those daemons stopped, the directory removed; a
directory that still has a mount under it is left, and said so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from pvc.node.storage import mapping

log = logging.getLogger("pvcworkerd")

PREFIX = "pvc-provision-"
STOP_GRACE = 30.0


def _under(path: str, directory: Path) -> bool:
    root = str(directory)
    return path == root or path.startswith(root + "/")


def _loops_under(directory: Path) -> list[str]:
    out = subprocess.run(["losetup", "--list", "--noheadings", "--raw", "--output",
                          "NAME,BACK-FILE"], capture_output=True, text=True, check=False,
                         stdin=subprocess.DEVNULL).stdout
    loops = []
    for line in out.splitlines():
        name, _, backing = line.partition(" ")
        if _under(backing.strip().removesuffix(" (deleted)"), directory):
            loops.append(name)
    return loops


def _daemons_under(directory: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-storage-daemon") and any(
                f"mountpoint={directory}/".encode() in arg for arg in argv):
            pids.append(int(proc.name))
    return pids


def _stop(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists()
                and "Z" not in _state(p)]
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def sweep(root: Path) -> list[str]:
    """Clear the builds left in `root`; what was found (one line per directory)."""
    report = []
    for directory in sorted(root.glob(f"{PREFIX}*")):
        if not directory.is_dir():
            continue
        directory = directory.resolve()
        mounts, loops = mapping.mounts_under(directory), _loops_under(directory)
        for point in mounts:
            if not mapping.unmount(point):
                mapping.unmount(point, lazy=True)
        # a loop device is released only once nothing holds it: wait for that before its
        # export goes, or it stays attached to a file that no longer answers
        for loop in loops:
            if not mapping.detach(Path(loop)):
                log.error("Loop device %s of a build cut short stays attached", loop)
        daemons = _daemons_under(directory)
        _stop(daemons)
        for point in mapping.mounts_under(directory):  # an export whose daemon was killed
            mapping.unmount(point, lazy=True)
        if mapping.mounts_under(directory):
            report.append(f"{directory}: left, it still has mounts")
            continue
        shutil.rmtree(directory, ignore_errors=True)
        report.append(f"{directory}: removed ({len(mounts)} mount(s), {len(loops)} loop "
                      f"device(s), {len(daemons)} export daemon(s))")
    for line in report:
        log.warning("A provisioning build cut short: %s", line)
    return report
