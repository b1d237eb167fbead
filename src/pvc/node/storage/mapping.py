"""RBD volumes as local block devices, for the provisioner's install stage.

PVC maps a volume with the kernel RBD driver (`rbd map`, giving `/dev/rbdN`). Where the
kernel has no RBD driver (no `/sys/bus/rbd`: these build machines, and containers), a
volume is exported by `qemu-storage-daemon` through librbd as a FUSE file, and that file
is attached to a loop device. Both give a `/dev/...` block device that mkfs, mount and
an installer use as they would a disk; `mapper()` picks the first that this node can do:

    with mapper(ceph, workdir) as volumes:
        dev = volumes.map("vms", "web1_vda")     # /dev/rbd0 or /dev/loop3
        ...
    # every volume unmapped, every qemu-storage-daemon stopped

A mapping lives as long as its mapper (one provisioning job): `unmap_all()` (or leaving
the `with`) releases every volume it mapped, also after a failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol

from pvc.common import names
from pvc.common.errors import BackendError, InvalidState
from pvc.common.procs import stop
from pvc.drivers.storage.qemu_img import CephFiles

log = logging.getLogger(__name__)

KERNEL_RBD: Final = Path("/sys/bus/rbd")
QSD: Final = "qemu-storage-daemon"
EXPORT_TIMEOUT: Final = 30.0
COMMAND_TIMEOUT: Final = 60.0


class VolumeMapper(Protocol):
    """Maps RBD volumes of one job to block devices on this node."""

    method: str

    def map(self, pool: str, volume: str) -> Path:
        """The block device of pool/volume (mapped now, or already by this mapper)."""
        ...

    def unmap(self, pool: str, volume: str) -> None:
        """Release pool/volume (nothing if this mapper did not map it)."""
        ...

    def unmap_all(self) -> None: ...

    def mapped(self) -> dict[str, Path]:
        """"pool/volume" -> block device, of what is mapped now."""
        ...


def _checked(pool: str, volume: str) -> str:
    names.storage_name(pool, "pool name")
    names.storage_name(volume, "volume name")
    return f"{pool}/{volume}"


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL, env=env)
    except FileNotFoundError as exc:
        raise BackendError(f"Cannot {what}: {cmd[0]} is not installed") from exc
    except subprocess.TimeoutExpired:
        raise BackendError(f"Cannot {what}: {cmd[0]} did not finish in "
                           f"{COMMAND_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise BackendError(f"Cannot {what}: {said}")
    return done.stdout.strip()


def _ceph_env(ceph: CephFiles) -> dict[str, str]:
    env = {**os.environ, "CEPH_CONF": str(ceph.conf)}
    if ceph.keyring is not None:
        env["CEPH_KEYRING"] = str(ceph.keyring)  # librados reads it when it starts
    return env


class _Base:
    method = ""

    def __enter__(self) -> _Base:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.unmap_all()

    def mapped(self) -> dict[str, Path]:
        raise NotImplementedError

    def unmap(self, pool: str, volume: str) -> None:
        raise NotImplementedError

    def unmap_all(self) -> None:
        """Release everything; every volume is tried, the first failure raised after."""
        failure: BaseException | None = None
        for key in list(self.mapped()):
            pool, volume = key.split("/", 1)
            try:
                self.unmap(pool, volume)
            except BackendError as exc:
                log.error("Could not unmap %s: %s", key, exc)
                failure = failure or exc
        if failure is not None:
            raise failure


class KernelRbdMapper(_Base):
    """`rbd map` / `rbd unmap` (the kernel driver, as PVC does)."""

    method = "kernel-rbd"

    def __init__(self, ceph: CephFiles) -> None:
        self.ceph = ceph
        self._devices: dict[str, Path] = {}

    def _rbd(self, *args: str, what: str) -> str:
        cmd = ["rbd", "--id", self.ceph.client, "--conf", str(self.ceph.conf)]
        if self.ceph.keyring is not None:
            cmd += ["--keyring", str(self.ceph.keyring)]
        return _run([*cmd, *args], what)

    def mapped(self) -> dict[str, Path]:
        return dict(self._devices)

    def map(self, pool: str, volume: str) -> Path:
        key = _checked(pool, volume)
        if key not in self._devices:
            out = self._rbd("map", key, what=f"map volume {key}")
            self._devices[key] = Path(out.splitlines()[-1].strip())
        return self._devices[key]

    def unmap(self, pool: str, volume: str) -> None:
        key = _checked(pool, volume)
        device = self._devices.get(key)
        if device is not None:
            self._rbd("unmap", str(device), what=f"unmap volume {key}")
            del self._devices[key]


@dataclass
class _Export:
    proc: subprocess.Popen[bytes]
    file: Path
    loop: Path


class FuseLoopMapper(_Base):
    """qemu-storage-daemon exports the volume (librbd) as a FUSE file; a loop device
    makes that file a block device. Writes reach Ceph when the loop device and the
    export are closed (unmap), which flushes them."""

    method = "fuse-loop"

    def __init__(self, ceph: CephFiles, workdir: Path) -> None:
        self.ceph = ceph
        self.workdir = workdir
        self._exports: dict[str, _Export] = {}

    def mapped(self) -> dict[str, Path]:
        return {key: e.loop for key, e in self._exports.items()}

    def map(self, pool: str, volume: str) -> Path:
        key = _checked(pool, volume)
        if key in self._exports:
            return self._exports[key].loop
        self.workdir.mkdir(parents=True, exist_ok=True)
        file = self.workdir / f"{pool}.{volume}.export"
        file.touch(mode=0o600)
        blockdev = ",".join([
            "driver=rbd", "node-name=volume", f"pool={pool}", f"image={volume}",
            f"conf={self.ceph.conf}", f"user={self.ceph.client}"])
        export = f"type=fuse,id=export,node-name=volume,mountpoint={file},writable=on"
        for value in (str(self.ceph.conf), str(file)):
            if "," in value:
                raise InvalidState(f"Cannot export {key}: the path {value} holds a comma")
        try:
            proc = subprocess.Popen([QSD, "--blockdev", blockdev, "--export", export],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=_ceph_env(self.ceph))
        except FileNotFoundError as exc:
            raise BackendError(f"Cannot map volume {key}: {QSD} is not installed "
                               "(Debian: qemu-system-common)") from exc
        try:
            self._wait_exported(proc, file, key)
            loop = Path(_run(["losetup", "--find", "--show", str(file)],
                             f"attach a loop device to volume {key}"))
        except BaseException:
            stop(proc)
            file.unlink(missing_ok=True)
            raise
        self._exports[key] = _Export(proc, file, loop)
        log.info("Mapped volume %s at %s (qemu-storage-daemon pid %s)", key, loop, proc.pid)
        return loop

    @staticmethod
    def _wait_exported(proc: subprocess.Popen[bytes], file: Path, key: str) -> None:
        deadline = time.monotonic() + EXPORT_TIMEOUT
        while not os.path.ismount(file):
            if proc.poll() is not None:
                said = (proc.stderr.read().decode(errors="replace").strip()
                        if proc.stderr else "") or f"exit status {proc.returncode}"
                raise BackendError(f"Cannot map volume {key}: {QSD} failed: {said}")
            if time.monotonic() > deadline:
                raise BackendError(f"Cannot map volume {key}: {QSD} did not export it "
                                   f"within {EXPORT_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def unmap(self, pool: str, volume: str) -> None:
        key = _checked(pool, volume)
        export = self._exports.get(key)
        if export is None:
            return
        _run(["losetup", "--detach", str(export.loop)], f"detach {export.loop} of {key}")
        if not detach(export.loop):
            raise BackendError(f"Cannot unmap volume {key}: {export.loop} stays in use")
        stop(export.proc, grace=30.0)  # it flushes its cache to Ceph, then unmounts
        with contextlib.suppress(OSError):
            export.file.unlink()
        del self._exports[key]
        if export.proc.returncode not in (0, None):
            log.warning("%s of %s ended with status %s", QSD, key, export.proc.returncode)


def mounts_under(directory: Path) -> list[Path]:
    """The mountpoints at or below `directory` in this process's mount table, the
    deepest first (the order to unmount them in)."""
    root = str(directory.resolve())
    found = []
    with open("/proc/self/mountinfo") as table:
        for line in table:
            point = line.split()[4].replace("\\040", " ")
            if point == root or point.startswith(root + "/"):
                found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount(where: Path, lazy: bool = False) -> bool:
    """Unmount `where` (`lazy`: detach it now, let it go when no longer busy); whether
    that worked."""
    done = subprocess.run(["umount", *(["--lazy"] if lazy else []), str(where)],
                          capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        log.warning("Could not unmount %s: %s", where, done.stderr.strip())
    return done.returncode == 0


def detach(loop: Path, timeout: float = 10.0) -> bool:
    """Detach loop device `loop` and wait until it is released (one still held, by a
    mount being let go, only detaches once that is over); whether it was."""
    backing = Path("/sys/block") / loop.name / "loop" / "backing_file"
    deadline = time.monotonic() + timeout
    while backing.exists():
        subprocess.run(["losetup", "--detach", str(loop)], capture_output=True, check=False,
                       stdin=subprocess.DEVNULL)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def methods_available() -> list[str]:
    """The mapping methods this node can use, best first."""
    found = []
    if KERNEL_RBD.exists() and shutil.which("rbd"):
        found.append(KernelRbdMapper.method)
    if shutil.which(QSD) and shutil.which("losetup") and Path("/dev/fuse").exists():
        found.append(FuseLoopMapper.method)
    return found


def mapper(ceph: CephFiles, workdir: Path, method: str | None = None) -> KernelRbdMapper | \
        FuseLoopMapper:
    """A mapper by the best method this node has (or `method`, if it has that one)."""
    available = methods_available()
    chosen = method or (available[0] if available else None)
    if chosen is None or chosen not in available:
        raise BackendError(
            "This node cannot map RBD volumes as block devices: it needs the kernel RBD "
            f"driver, or {QSD} (Debian: qemu-system-common), losetup and /dev/fuse"
            + (f" (asked for {method}; it has {', '.join(available) or 'none'})"
               if method else ""))
    if chosen == KernelRbdMapper.method:
        return KernelRbdMapper(ceph)
    return FuseLoopMapper(ceph, workdir)
