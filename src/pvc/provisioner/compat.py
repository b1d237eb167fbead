"""PVC's module names for provisioner scripts written for PVC.

PVC's scripts import their base class and helpers from PVC's own modules; these names
are made to stand for ours while a script is loaded and run, as far as PVC documents
them:

    pvcapid.vmbuilder   VMBuilder, chroot(destination), open_zk(config)
    pvcapid.Daemon      config (a mapping of the node's settings)
    daemon_lib.common   run_os_command(command, environment=None, timeout=None)
    daemon_lib.ceph     add_volume, clone_volume, remove_volume, map_volume,
                        unmap_volume (each taking the ZooKeeper handle first, as PVC's do,
                        and returning (success, message); map_volume's message is the
                        block device)

The ceph helpers act for the build that runs (`current`): volumes they make are the
build's, removed again if it fails, as those of `VMBuilder.create_volumes()`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any

from pvc.common.errors import BackendError, PVCError
from pvc.provisioner.builder import VMBuilder

_current: VMBuilder | None = None
_SIZE = re.compile(r"^([0-9]+)([KMGT]?)B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


_settings: dict[str, Any] = {}


def set_current(builder: VMBuilder | None) -> None:
    """The build PVC's helpers act for (None when it is over)."""
    global _current
    _current = builder
    _settings.clear()
    if builder is not None:
        _settings.update(builder.runtime.settings)


def _builder() -> VMBuilder:
    if _current is None:
        raise BackendError("PVC's helpers work only inside a provisioning job")
    return _current


@contextlib.contextmanager
def chroot(destination: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block's Python (and its os.system calls) with `destination` as the root;
    the root and working directory are given back after it."""
    real_root = os.open("/", os.O_RDONLY)
    cwd = os.getcwd()
    try:
        os.chroot(destination)
        os.chdir("/")
        yield
    finally:
        os.fchdir(real_root)
        os.chroot(".")
        os.close(real_root)
        os.chdir(cwd)


@contextlib.contextmanager
def open_zk(config: Any = None) -> Iterator[Any]:
    """A ZooKeeper handle for the ceph helpers (they use the build's own connection)."""
    yield _builder().runtime.store


def run_os_command(command: str, background: bool = False,
                   environment: Mapping[str, str] | None = None,
                   timeout: float | None = None, shell: bool = False) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a command line (split as a shell would, not run
    by one unless `shell`)."""
    args: Any = command if shell else shlex.split(command)
    env = {**os.environ, **(environment or {})}
    try:
        done = subprocess.run(args, shell=shell, capture_output=True, text=True, env=env,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        return 2, "", str(exc)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout} s"
    return done.returncode, done.stdout, done.stderr


def _bytes(size: str | int) -> int:
    found = _SIZE.fullmatch(str(size).strip())
    if found is None:
        raise BackendError(f"Invalid volume size {size!r}")
    return int(found.group(1)) * _UNITS[found.group(2).upper()]


def _attempt(work: Any) -> tuple[bool, Any]:
    try:
        return True, work()
    except PVCError as exc:
        return False, str(exc)


def add_volume(zkhandler: Any, pool: str, name: str, size: str | int) -> tuple[bool, Any]:
    rt = _builder().runtime

    def work() -> str:
        rt.create_volume(pool, name, _bytes(size))
        rt.created.append((pool, name))
        return f'Created RBD volume "{pool}/{name}"'

    return _attempt(work)


def clone_volume(zkhandler: Any, pool: str, name_src: str, name_new: str) \
        -> tuple[bool, Any]:
    rt = _builder().runtime

    def work() -> str:
        rt.clone_volume(pool, name_src, name_new)
        rt.created.append((pool, name_new))
        return f'Cloned RBD volume "{pool}/{name_src}" to "{pool}/{name_new}"'

    return _attempt(work)


def remove_volume(zkhandler: Any, pool: str, name: str) -> tuple[bool, Any]:
    rt = _builder().runtime

    def work() -> str:
        rt.remove_volume(pool, name)
        with contextlib.suppress(ValueError):
            rt.created.remove((pool, name))
        return f'Removed RBD volume "{pool}/{name}"'

    return _attempt(work)


def map_volume(zkhandler: Any, pool: str, name: str) -> tuple[bool, Any]:
    return _attempt(lambda: str(_builder().map_volume(pool, name)))


def unmap_volume(zkhandler: Any, pool: str, name: str) -> tuple[bool, Any]:
    def work() -> str:
        _builder().unmap_volume(pool, name)
        return f'Unmapped RBD volume "{pool}/{name}"'

    return _attempt(work)


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name, f"PVC's {name}, as pvc.provisioner.compat provides it")
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def install() -> None:
    """Make PVC's module names importable (once per process; an existing module of
    that name is left alone)."""
    if "daemon_lib.ceph" in sys.modules and "pvcapid.vmbuilder" in sys.modules:
        return
    modules = {
        "pvcapid": _module("pvcapid"),
        "pvcapid.vmbuilder": _module("pvcapid.vmbuilder", VMBuilder=VMBuilder, chroot=chroot,
                                     open_zk=open_zk),
        "pvcapid.Daemon": _module("pvcapid.Daemon", config=_settings),
        "daemon_lib": _module("daemon_lib"),
        "daemon_lib.common": _module("daemon_lib.common", run_os_command=run_os_command),
        "daemon_lib.ceph": _module("daemon_lib.ceph", add_volume=add_volume,
                                   clone_volume=clone_volume, remove_volume=remove_volume,
                                   map_volume=map_volume, unmap_volume=unmap_volume),
    }
    for name, module in modules.items():
        sys.modules.setdefault(name, module)
    for parent, child in (("pvcapid", "vmbuilder"), ("pvcapid", "Daemon"),
                          ("daemon_lib", "common"), ("daemon_lib", "ceph")):
        setattr(sys.modules[parent], child, sys.modules[f"{parent}.{child}"])

