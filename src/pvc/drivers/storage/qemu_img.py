"""`qemu-img` for disk images: inspect a local image file and convert it into an RBD volume.

The RBD side uses QEMU's rbd block driver (Debian's qemu-block-extra) with the same
ceph.conf and keyring as the rest of PVC, given in the legacy filename syntax
`rbd:<pool>/<image>:conf=<path>:keyring=<path>`; in that syntax a `:` or `\\` inside a
value is escaped with a backslash. Failures of qemu-img on the image itself (not an image
of that format, corrupt, unreadable) are `InvalidArgument` carrying qemu-img's own words;
a missing qemu-img or a failure to reach Ceph is `BackendError`.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pvc.common.errors import BackendError, InvalidArgument

QEMU_IMG: Final = "qemu-img"
INFO_TIMEOUT: Final = 120.0
# `qemu-img check` exit codes: 2 corrupt, 3 only leaked clusters, 63 format cannot check.
_CHECK_CORRUPT: Final = 2
_CHECK_LEAKS_ONLY: Final = 3
_CHECK_UNSUPPORTED: Final = 63


@dataclass(frozen=True)
class CephFiles:
    """How qemu-img reaches Ceph: the cluster configuration and the client key."""

    conf: Path
    keyring: Path | None = None
    client: str = "admin"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def rbd_target(ceph: CephFiles, pool: str, volume: str) -> str:
    """The qemu filename of RBD image pool/volume (names already validated)."""
    parts = [f"rbd:{_escape(pool)}/{_escape(volume)}", f"id={_escape(ceph.client)}",
             f"conf={_escape(str(ceph.conf))}"]
    if ceph.keyring is not None:
        parts.append(f"keyring={_escape(str(ceph.keyring))}")
    return ":".join(parts)


def _run(args: list[str], timeout: float | None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([QEMU_IMG, *args], capture_output=True, text=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise BackendError("qemu-img is not installed on this node (Debian: qemu-utils)") \
            from exc
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"qemu-img {args[0]} did not finish in {timeout:.0f} s") from exc


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    text = (proc.stderr or proc.stdout or "").strip()
    return text.removeprefix("qemu-img: ") or f"exit status {proc.returncode}"


def virtual_size(path: Path, fmt: str) -> int:
    """The size of the disk that the image file holds (bytes), read as format `fmt`."""
    proc = _run(["info", "--output=json", "-f", fmt, str(path)], INFO_TIMEOUT)
    if proc.returncode != 0:
        raise InvalidArgument(f"The upload is not a usable {fmt} image: {_said(proc)}")
    try:
        return int(json.loads(proc.stdout)["virtual-size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"qemu-img info gave an unexpected answer: {proc.stdout[:200]}") \
            from exc


def check(path: Path, fmt: str) -> None:
    """Refuse an image whose metadata qemu-img finds corrupt (leaks alone are harmless;
    formats without a checker pass)."""
    proc = _run(["check", "-q", "-f", fmt, str(path)], INFO_TIMEOUT)
    if proc.returncode in (0, _CHECK_LEAKS_ONLY, _CHECK_UNSUPPORTED):
        return
    if proc.returncode == _CHECK_CORRUPT:
        raise InvalidArgument(f"The uploaded {fmt} image is corrupt: {_said(proc)}")
    raise InvalidArgument(f"The uploaded {fmt} image cannot be checked: {_said(proc)}")


def convert_to_rbd(path: Path, fmt: str, ceph: CephFiles, pool: str, volume: str,
                   timeout: float | None = None) -> None:
    """Write the disk held in image `path` (format `fmt`) as raw data at the start of the
    existing RBD volume; unallocated areas of the image are written as zeros."""
    proc = _run(["convert", "-n", "-f", fmt, "-O", "raw", str(path),
                 rbd_target(ceph, pool, volume)], timeout)
    if proc.returncode == 0:
        return
    words = _said(proc)
    if "rbd" in words.lower() or "error connecting" in words.lower():
        raise BackendError(f"qemu-img could not write volume {pool}/{volume}: {words}")
    raise InvalidArgument(f"qemu-img could not convert the {fmt} image: {words}")
