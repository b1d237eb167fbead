"""The installer ISO: a hybrid (BIOS and UEFI) image made with `grub-mkrescue` whose
live system (Debian's `live-boot`) runs the PVC node installer (`pvc.installer`).

    live/filesystem.squashfs   the system: Debian 12 minbase with the kernel, SSH, sudo,
                               Python, LVM, ifupdown, GRUB. The installer copies exactly
                               this onto the target disk.
    live/pvc-installer.squashfs  the installer and the live system's own settings (root
                               logs in on the consoles and the installer starts, or runs
                               unattended from an answer file). live-boot stacks it on the
                               system; it is never copied to a node.
    live/vmlinuz, live/initrd.img (made with live-boot, which the system then loses),
    boot/grub/grub.cfg (serial and screen)

Intermediate artifacts are kept in the cache directory and reused while what made them is
unchanged: the debootstrapped root (by release, mirror and packages) and its squashfs.
The installer's layer is made on every build (it takes a second).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pvc.common.errors import BackendError, InvalidArgument
from pvc.installer.install import run

RELEASE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_CACHE = Path("/var/cache/pvc-iso")
VOLUME_ID = "PVC_INSTALLER"
ANSWERS_LABEL = "PVCANSWERS"
# what the live system needs, and what a node gets: the installer copies this root
PACKAGES = (
    "linux-image-amd64", "live-boot", "systemd-sysv", "udev", "kmod", "dbus",
    "libpam-systemd", "iproute2", "ifupdown", "isc-dhcp-client", "vlan", "ifenslave",
    "openssh-server", "sudo", "python3", "curl", "ca-certificates", "lvm2", "fdisk",
    "dosfstools", "e2fsprogs", "xfsprogs", "squashfs-tools", "grub-pc",
    "grub-efi-amd64-bin", "util-linux", "procps", "less",
)
HOST_TOOLS = {  # command -> the Debian package that has it
    "debootstrap": "debootstrap", "mksquashfs": "squashfs-tools",
    "grub-mkrescue": "grub-common", "xorriso": "xorriso", "mformat": "mtools",
}
GRUB_MODULES = (Path("/usr/lib/grub/i386-pc"), Path("/usr/lib/grub/x86_64-efi"))
GRUB_PACKAGES = ("grub-pc-bin", "grub-efi-amd64-bin")
# the source files of the installer, relative to the `pvc` package
INSTALLER_SOURCES = ("__init__.py", "common/__init__.py", "common/errors.py",
                     "installer/__init__.py", "installer/__main__.py",
                     "installer/answers.py", "installer/install.py",
                     "installer/layout.py", "installer/machine.py")
TIMEOUT = 3600.0
LIVE_PACKAGES = ("live-boot", "live-boot-initramfs-tools")
LIVE_INITRD = ".live-initrd.img"  # in the root's top directory, never packed

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Built:
    path: Path
    size: int
    seconds: float
    root_cached: bool


def missing_tools() -> list[str]:
    """The Debian packages this machine lacks for a build."""
    missing = {pkg for cmd, pkg in HOST_TOOLS.items() if shutil.which(cmd) is None}
    missing |= {pkg for d, pkg in zip(GRUB_MODULES, GRUB_PACKAGES, strict=True)
                if not d.is_dir()}
    return sorted(missing)


def root_key(mirror: str, packages: Sequence[str] = PACKAGES) -> str:
    return hashlib.sha256(f"{RELEASE}|{mirror}|{','.join(packages)}|2".encode()).hexdigest()[:12]


def live_root(cache: Path, mirror: str, progress: Progress) -> tuple[Path, bool]:
    """The debootstrapped system (made if missing); whether it was in the cache."""
    path = cache / f"root-{RELEASE}-{root_key(mirror)}"
    if (path / ".complete").exists():
        return path, True
    shutil.rmtree(path, ignore_errors=True)
    work = cache / f".{path.name}.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    progress(f"debootstrap {RELEASE} from {mirror} ({len(PACKAGES)} packages and their "
             "dependencies; minutes)")
    try:
        run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", RELEASE,
             str(work), mirror], f"debootstrap {RELEASE} from {mirror}", timeout=TIMEOUT)
        # the live system boots with live-boot's initramfs; the nodes' system without it
        # (made here, at the build host's speed, rather than by every install under it)
        _, initrd = kernel_files(work)
        shutil.copy(initrd, work / LIVE_INITRD)
        run(["mount", "-t", "proc", "proc", str(work / "proc")], "mount /proc for dpkg")
        try:
            run(["chroot", str(work), "dpkg", "--purge", *LIVE_PACKAGES],
                "remove live-boot from the nodes' system",
                env={"DEBIAN_FRONTEND": "noninteractive"})
        finally:
            run(["umount", "--lazy", str(work / "proc")], "unmount /proc")
        (work / "etc/hostname").write_text("pvc-installer\n")
        (work / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tpvc-installer\n")
        for key in (work / "etc/ssh").glob("ssh_host_*"):
            key.unlink()  # every node makes its own
        (work / "etc/machine-id").write_text("")
        (work / "etc/resolv.conf").unlink(missing_ok=True)
        shutil.rmtree(work / "var/cache/apt/archives", ignore_errors=True)
        (work / "var/cache/apt/archives/partial").mkdir(parents=True)
        for stale in (work / "var/lib/apt/lists").glob("*_dists_*"):
            stale.unlink()
        (work / ".complete").touch()
        work.rename(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path, False


def system_squashfs(cache: Path, root: Path, progress: Progress) -> Path:
    path = cache / f"{root.name}.squashfs"
    if path.exists():
        return path
    progress("Packing the system (squashfs, lz4)")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        run(["mksquashfs", str(root), str(tmp), "-comp", "lz4", "-noappend", "-no-progress",
             "-e", ".complete", LIVE_INITRD], "mksquashfs of the system")
        tmp.rename(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# -- the installer's layer -------------------------------------------------------------

AUTOLOGIN = """[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear %I $TERM
"""
AUTOLOGIN_SERIAL = """[Unit]
After=pvc-installer.service
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
"""
PROFILE = """# The PVC installer starts on the console; ^C leaves this shell, /install.sh restarts it.
case "$(tty)" in
  /dev/tty1|/dev/ttyS0)
    if [ -z "$PVC_INSTALLER_STARTED" ]; then
      export PVC_INSTALLER_STARTED=1
      /install.sh
    fi ;;
esac
"""
INSTALL_SH = """#!/bin/sh
# The PVC node installer (see /opt/pvc-installer/pvc/installer).
PYTHONPATH=/opt/pvc-installer exec python3 -m pvc.installer "$@"
"""
UNATTENDED_UNIT = f"""[Unit]
Description=PVC node installer, unattended (from pvcinstall.answers= or a {ANSWERS_LABEL} drive)
After=systemd-udev-settle.service network-online.target local-fs.target
Wants=systemd-udev-settle.service network-online.target
Before=getty@tty1.service serial-getty@ttyS0.service

[Service]
Type=oneshot
ExecStart=/install.sh --auto
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
"""
NO_SSH_ON_LIVE = """[Unit]
# the installer's live system has no host keys and no SSH; an installed node makes its own
ConditionKernelCommandLine=!boot=live
"""
LIVE_INTERFACES = """auto lo
iface lo inet loopback
"""


def installer_layer(tree: Path, sources: Path) -> None:
    """The files of the installer's layer under `tree`."""
    opt = tree / "opt/pvc-installer/pvc"
    for rel in INSTALLER_SOURCES:
        (opt / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sources / rel, opt / rel)
    files = {
        "install.sh": (INSTALL_SH, 0o755),
        "root/.bash_profile": (PROFILE, 0o644),
        "etc/systemd/system/getty@tty1.service.d/autologin.conf": (AUTOLOGIN, 0o644),
        "etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf":
            (AUTOLOGIN_SERIAL, 0o644),
        "etc/systemd/system/pvc-installer.service": (UNATTENDED_UNIT, 0o644),
        "etc/systemd/system/ssh.service.d/live.conf": (NO_SSH_ON_LIVE, 0o644),
    }
    for rel, (text, mode) in files.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    wants = tree / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "pvc-installer.service").symlink_to("/etc/systemd/system/pvc-installer.service")


def grub_cfg() -> str:
    args = "boot=live components quiet console=tty0 console=ttyS0,115200n8"
    return f"""serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=5
set default=0
menuentry "Install a PVC node" {{
    linux /live/vmlinuz {args}
    initrd /live/initrd.img
}}
menuentry "Install a PVC node (screen only)" {{
    linux /live/vmlinuz boot=live components quiet
    initrd /live/initrd.img
}}
"""


def kernel_files(root: Path) -> tuple[Path, Path]:
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    initrds = sorted((root / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise BackendError(f"No kernel or initrd in {root}/boot")
    return kernels[-1], initrds[-1]


def build(output: Path, cache: Path = DEFAULT_CACHE, mirror: str = DEFAULT_MIRROR,
          progress: Progress = print) -> Built:
    """Build the ISO at `output`."""
    if not mirror.startswith(("http://", "https://")) or any(c.isspace() for c in mirror):
        raise InvalidArgument(f"mirror {mirror!r} is not an http(s) URL")
    if output.suffix != ".iso":
        raise InvalidArgument(f"output {output} does not end in .iso")
    missing = missing_tools()
    if missing:
        raise BackendError(f"Missing packages for an ISO build: {' '.join(missing)} "
                           "(deploy/installer/buildiso.sh installs them)")
    started = time.monotonic()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time per cache
        root, cached = live_root(cache, mirror, progress)
        system = system_squashfs(cache, root, progress)
        with tempfile.TemporaryDirectory(dir=cache, prefix=".iso-") as tmp:
            tree = Path(tmp) / "iso"
            live = tree / "live"
            live.mkdir(parents=True)
            run(["cp", "--reflink=auto", str(system), str(live / "filesystem.squashfs")],
                "copy the system's squashfs")
            layer = Path(tmp) / "layer"
            installer_layer(layer, Path(__file__).resolve().parent.parent)
            progress("Packing the installer's layer")
            run(["mksquashfs", str(layer), str(live / "pvc-installer.squashfs"), "-comp",
                 "lz4", "-noappend", "-no-progress", "-all-root"], "mksquashfs of the installer")
            kernel, _ = kernel_files(root)
            shutil.copy(kernel, live / "vmlinuz")
            shutil.copy(root / LIVE_INITRD, live / "initrd.img")
            (tree / "boot/grub").mkdir(parents=True)
            (tree / "boot/grub/grub.cfg").write_text(grub_cfg())
            progress(f"Making the ISO {output} (BIOS and UEFI)")
            output.parent.mkdir(parents=True, exist_ok=True)
            part = output.with_name(f".{output.name}.{os.getpid()}")
            try:
                run(["grub-mkrescue", "-o", str(part), str(tree), "--", "-volid", VOLUME_ID],
                    "grub-mkrescue")
                part.rename(output)
            finally:
                part.unlink(missing_ok=True)
    return Built(output, output.stat().st_size, time.monotonic() - started, cached)
