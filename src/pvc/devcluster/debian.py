"""Debian packages for the provisioner's debootstrap example, fetched once on the host.

The development nodes live in network namespaces that cannot reach a package mirror; the
host can. `tarball()` has debootstrap download the packages of a release into a tarball
(`debootstrap --make-tarball`) that a build on any node unpacks with the example's
`tarball=PATH` argument. It is kept in pvc-dev's download cache
(`<state root>/cache/debootstrap/`, left by `pvc-dev down` like apt's own cache) under a
name made from the release, mirror and packages, so a change of any makes a new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from pvc.common.errors import BackendError
from pvc.devcluster.layout import default_root

MIRROR = "http://deb.debian.org/debian"
TIMEOUT = 1800.0


def cache_dir(root: Path | None = None) -> Path:
    return (root or default_root()) / "cache" / "debootstrap"


def tarball(packages: str, release: str = "bookworm", mirror: str = MIRROR,
            root: Path | None = None) -> Path:
    """The tarball of `packages` (comma-separated) for `release`, made if missing."""
    key = hashlib.sha256(f"{release}|{mirror}|{packages}".encode()).hexdigest()[:16]
    directory = cache_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{release}-{key}.tgz"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download at a time, by whoever asks first
        if path.exists():
            return path
        if shutil.which("debootstrap") is None:
            raise BackendError("debootstrap is not installed (./pvc-dev installs it)")
        work = directory / f".{path.name}.{os.getpid()}"
        partial = work / "tarball.tgz"
        try:
            work.mkdir()
            done = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={packages}",
                 f"--make-tarball={partial}", release, str(work / "root"), mirror],
                capture_output=True, text=True, timeout=TIMEOUT, check=False,
                stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
                raise BackendError(f"debootstrap could not download {release}: {tail}")
            partial.rename(path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return path
