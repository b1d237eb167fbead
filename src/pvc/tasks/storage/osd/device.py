"""The device of an OSD (`pvc.tasks.storage.osd`): the checks that it may become an OSD (it
exists, is a block device or a file of at least `MIN_DEVICE_SIZE`, is not in use and holds no
OSD, file system or partition table), and wiping a former OSD's label. The rule for its path
is `pvc.ops.storage.osds.check_device_path`."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from pathlib import Path

from pvc.common.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from pvc.ops.storage.osds import check_device_path

BLKID = "/usr/sbin/blkid"
# Smallest device an OSD is made on (BlueStore needs room for its DB and WAL).
MIN_DEVICE_SIZE = 1024**3
BLUESTORE_MAGIC = b"bluestore block device"
# Bytes wiped at the start of a device whose OSD is gone (the BlueStore label and more).
WIPE_BYTES = 1024**2




def _device_size(path: Path, st: os.stat_result) -> int:
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def _block_in_use(path: Path, st: os.stat_result) -> str | None:
    """Why a block device is in use (mounted, held, partitioned), or None."""
    sysdir = Path(f"/sys/dev/block/{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
    with contextlib.suppress(OSError):
        if any((sysdir / "holders").iterdir()):
            return "it is held by another device (LVM, RAID or device-mapper)"
    with contextlib.suppress(OSError):
        parts = [p.name for p in sysdir.iterdir() if (p / "partition").exists()]
        if parts:
            return f"it has partitions ({', '.join(sorted(parts))})"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
    except OSError as exc:
        return f"it is in use ({exc.strerror})"
    os.close(fd)
    return None


def _signature(path: Path) -> str | None:
    """A file system, partition table or RAID signature that blkid finds, or None."""
    if not os.access(BLKID, os.X_OK):
        return None
    try:
        res = subprocess.run([BLKID, "-p", "-o", "export", str(path)], capture_output=True,
                             text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None  # 2: nothing found
    found = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    for key in ("TYPE", "PTTYPE"):
        if found.get(key):
            return f"{key.lower()} {found[key]}"
    return None


def check_device(device: str, node: str) -> Path:
    """The device of a new OSD on this node, once it is found fit (the resolved path)."""
    path = Path(check_device_path(device))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotFound(f"Device {device} does not exist on node {node}") from None
    except OSError as exc:
        raise InvalidArgument(f"Cannot use device {device}: {exc.strerror}") from None
    if not (stat.S_ISBLK(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise InvalidArgument(f"Device {device} is neither a block device nor a file")
    size = _device_size(path, st)
    if size < MIN_DEVICE_SIZE:
        raise InvalidArgument(f"Device {device} is too small for an OSD ({size} bytes; at "
                              f"least {MIN_DEVICE_SIZE // 1024**3} GiB)")
    if stat.S_ISBLK(st.st_mode):
        busy = _block_in_use(path, st)
        if busy:
            raise InvalidState(f"Device {device} cannot become an OSD: {busy}")
    if has_label(path):
        raise AlreadyExists(f"Device {device} already holds a Ceph OSD (a BlueStore label); "
                            "remove that OSD first")
    found = _signature(path)
    if found:
        raise InvalidState(f"Device {device} holds data ({found}); wipe it first "
                           "(e.g. wipefs -a) if it may be destroyed")
    return path


def has_label(device: Path) -> bool:
    """Whether the device starts with a BlueStore label (OSError if it cannot be read)."""
    with open(device, "rb") as f:
        return f.read(len(BLUESTORE_MAGIC)) == BLUESTORE_MAGIC


def wipe_label(device: Path) -> None:
    """Zero the start of a (former OSD's) device: its BlueStore label goes."""
    st = os.stat(device)
    if not (stat.S_ISBLK(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return
    length = min(WIPE_BYTES, _device_size(device, st))
    fd = os.open(device, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.pwrite(fd, bytes(length), 0)
        os.fsync(fd)
    finally:
        os.close(fd)
