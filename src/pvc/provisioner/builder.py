"""`VMBuilder`: what a provisioner script's `VMBuilderScript` class extends (PVC's
interface), and the helpers it may use.

The provisioner makes one instance per build and calls, in order: `setup()` (checks),
`create()` (returns the VM's libvirt XML, which is then defined in state `provision`),
`prepare()` (volumes, filesystems, mounts), `install()`, and `cleanup()`, which also
runs when `prepare()` or `install()` fails. The instance carries PVC's attributes:

    vm_name, vm_id (the number at the end of the name), vm_uuid, vm_profile, vm_data

`vm_data` holds `script_arguments`, `system_details` (the system template),
`networks` (each `vni`, `eth_bridge`, `mac`), `volumes` (the storage template's disks),
`mac_template`, `system_architecture`, `ceph_monitor_list`, `ceph_monitor_port`,
`ceph_monitor_secret` (and `ceph_monitor_user`), `ova_details` (an OVA profile's
OVF and volumes, else None) and `profile`.

Helpers (each logs what it does on the job's progress): `domain_xml()`;
`create_volumes()`, which makes every disk of the storage template (empty of its size,
or a clone of its source volume); `map_volume()`; `make_filesystems()`;
`mount_volumes()` / `unmount_volumes()` under `self.target`; `run()` (a command, or with
`chroot=True` a command inside `self.target`); `report()`. Volumes made by
`create_volumes()` are removed again when the build fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvc.common.errors import BackendError, InvalidArgument, PVCError
from pvc.provisioner import domain

log = logging.getLogger("pvc.provisioner")

GiB = 1 << 30
COMMAND_TIMEOUT = 3600.0
# What an install chroot needs of the node, bound in while a command runs in it.
CHROOT_BINDS = ("dev", "dev/pts", "proc", "sys", "run")


@dataclass
class Runtime:
    """What the helpers work with: set up by the provisioner for one build."""

    node: str
    workdir: Path
    report: Callable[[str], None]
    create_volume: Callable[[str, str, int], None]  # pool, volume, size in bytes
    clone_volume: Callable[[str, str, str], None]  # pool, source, new volume
    remove_volume: Callable[[str, str], None]
    map_volume: Callable[[str, str], Path]
    unmap_volume: Callable[[str, str], None]
    store: Any = None  # the build's ZooKeeper store (PVC's open_zk gives it)
    settings: dict[str, Any] = field(default_factory=dict)  # PVC's pvcapid.Daemon.config
    created: list[tuple[str, str]] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)


class VMBuilder:
    """The base of a provisioner script's `VMBuilderScript`."""

    def __init__(self, vm_name: str, vm_id: int, vm_uuid: str, vm_profile: str,
                 vm_data: dict[str, Any], runtime: Runtime | None = None) -> None:
        self.vm_name = vm_name
        self.vm_id = vm_id
        self.vm_uuid = vm_uuid
        self.vm_profile = vm_profile
        self.vm_data = vm_data
        self._runtime = runtime

    # -- the stages (a script overrides what it needs) ---------------------------------
    def setup(self) -> None:
        """Checks before anything is made."""

    def create(self) -> str:
        """The VM's libvirt XML (here: `domain_xml()`, booting the kernel that the script
        arguments `kernel`, `initrd` and `cmdline` name, if they do)."""
        args = self.vm_data.get("script_arguments") or {}
        return self.domain_xml(kernel=args.get("kernel"), initrd=args.get("initrd"),
                               cmdline=args.get("cmdline"))

    def prepare(self) -> None:
        """Volumes, filesystems and mounts."""

    def install(self) -> None:
        """Put the system on the volumes."""

    def cleanup(self) -> None:
        """Undo what prepare() mounted; also runs when prepare() or install() failed."""

    # -- helpers -----------------------------------------------------------------------
    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise BackendError("This builder runs outside a provisioning job: it has no "
                               "volumes, mounts or node")
        return self._runtime

    @property
    def target(self) -> Path:
        """Where `mount_volumes()` mounts the VM's filesystems (PVC: /tmp/target)."""
        return self.runtime.workdir / "target"

    def report(self, message: str) -> None:
        """Show `message` as the job's status."""
        self.runtime.report(message)

    def domain_xml(self, kernel: str | None = None, initrd: str | None = None,
                   cmdline: str | None = None) -> str:
        return domain.domain_xml(self.vm_name, self.vm_uuid, self.vm_data, kernel, initrd,
                                 cmdline)

    def volumes(self) -> list[dict[str, Any]]:
        return list(self.vm_data.get("volumes") or ())

    def volume_name(self, disk: Mapping[str, Any]) -> str:
        return f"{self.vm_name}_{disk['disk_id']}"

    def create_volumes(self) -> None:
        """Make every disk of the storage template: a clone of `source_volume`, or an
        empty volume of `disk_size_gb`."""
        rt = self.runtime
        for disk in self.volumes():
            pool, volume = str(disk["pool"]), self.volume_name(disk)
            if disk.get("source_volume"):
                self.report(f"Cloning {pool}/{disk['source_volume']} to {pool}/{volume}")
                rt.clone_volume(pool, str(disk["source_volume"]), volume)
            elif disk.get("disk_size_gb"):
                self.report(f"Creating volume {pool}/{volume} ({disk['disk_size_gb']} GB)")
                rt.create_volume(pool, volume, int(disk["disk_size_gb"]) * GiB)
            else:
                raise InvalidArgument(f"Disk {disk['disk_id']} has neither a size nor a "
                                      "source volume")
            rt.created.append((pool, volume))

    def map_volume(self, pool: str, volume: str) -> Path:
        """The block device of pool/volume on this node."""
        return self.runtime.map_volume(pool, volume)

    def unmap_volume(self, pool: str, volume: str) -> None:
        self.runtime.unmap_volume(pool, volume)

    def make_filesystems(self) -> None:
        """mkfs (mkswap) on every disk that names a filesystem, with its arguments."""
        from pvc.ops.provisioner.checks import mkfs_tool

        for disk in self.volumes():
            fs = disk.get("filesystem")
            if not fs:
                continue
            dev = self.map_volume(str(disk["pool"]), self.volume_name(disk))
            args = shlex.split(str(disk.get("filesystem_args") or ""))
            self.report(f"Making a {fs} filesystem on disk {disk['disk_id']}")
            self.run([mkfs_tool(str(fs)), *args, str(dev)])

    def mount_volumes(self) -> Path:
        """Mount every disk with a filesystem and a mountpoint under `self.target`, the
        shallowest mountpoint first (/ before /var); returns the target."""
        disks = [d for d in self.volumes()
                 if d.get("filesystem") and d.get("filesystem") != "swap"
                 and d.get("mountpoint")]
        disks.sort(key=lambda d: len(Path(str(d["mountpoint"])).parts))
        self.target.mkdir(parents=True, exist_ok=True)
        for disk in disks:
            where = self._inside_target(str(disk["mountpoint"]))
            where.mkdir(parents=True, exist_ok=True)
            dev = self.map_volume(str(disk["pool"]), self.volume_name(disk))
            self.run(["mount", str(dev), str(where)])
            self.runtime.mounts.append(where)
        return self.target

    def unmount_volumes(self) -> None:
        """Unmount what `mount_volumes()` and `run(chroot=True)` mounted, deepest first."""
        rt = self.runtime
        failure: PVCError | None = None
        for where in reversed(list(rt.mounts)):
            try:
                self.run(["umount", str(where)])
                rt.mounts.remove(where)
            except PVCError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _inside_target(self, path: str) -> Path:
        if not path.startswith("/") or ".." in Path(path).parts or "\0" in path:
            raise InvalidArgument(f"Invalid mountpoint {path!r}: an absolute path without ..")
        return self.target / path.lstrip("/")

    @contextlib.contextmanager
    def _chroot_binds(self) -> Iterator[None]:
        bound: list[Path] = []
        try:
            for name in CHROOT_BINDS:
                where = self.target / name
                where.mkdir(parents=True, exist_ok=True)
                self.run(["mount", "--bind", f"/{name}", str(where)], quiet=True)
                bound.append(where)
            yield
        finally:
            for where in reversed(bound):
                with contextlib.suppress(PVCError):
                    self.run(["umount", "--lazy", str(where)], quiet=True)

    def run(self, cmd: Sequence[str], chroot: bool = False, env: Mapping[str, str] | None = None,
            input: str | None = None, quiet: bool = False,
            timeout: float = COMMAND_TIMEOUT) -> str:
        """Run `cmd` (inside `self.target` with `chroot`); its output, or BackendError
        with the end of what it printed."""
        args = [str(a) for a in cmd]
        if not args:
            raise InvalidArgument("An empty command")
        if chroot:
            with self._chroot_binds():
                return self.run(["chroot", str(self.target), *args], env=env, input=input,
                                quiet=quiet, timeout=timeout)
        if not quiet:
            log.info("Running %s", shlex.join(args))
        full_env = {**os.environ, **(env or {})}
        try:
            done = subprocess.run(args, capture_output=True, text=True, env=full_env,
                                  input=input, timeout=timeout, check=False,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise BackendError(f"{args[0]} is not installed on node {self.runtime.node}") \
                from exc
        except subprocess.TimeoutExpired:
            raise BackendError(f"{shlex.join(args)[:200]} did not finish in {timeout:.0f} s") \
                from None
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise BackendError(f"{shlex.join(args)[:200]} failed (exit {done.returncode}): "
                               f"{tail or 'no output'}")
        return done.stdout
