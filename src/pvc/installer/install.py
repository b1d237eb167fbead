"""The install itself, on the live system as root: partition and format the target disk
(`pvc.installer.layout`), copy the live system's root onto it, make it this node
(hostname, interfaces, apt sources, the deploy user and its keys, fresh SSH host keys and
machine id), install GRUB for BIOS and UEFI, and report each stage to the check-in URL.

The installed system is the ISO's own system (Debian 12 packages only: SSH, Python, sudo,
LVM, ifupdown, GRUB, the kernel; the ISO build made it without live-boot): an install
needs no network, and apt then uses the answers' mirror.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pvc.common.errors import BackendError
from pvc.installer import layout
from pvc.installer.answers import RELEASE, AnswerError, Answers, ssh_key
from pvc.installer.machine import Target

log = logging.getLogger("pvc-installer")

DEPLOY_UID = 200
TARGET = Path("/target")
LIVE_SQUASHFS = Path("/run/live/medium/live/filesystem.squashfs")
CHECKIN_TIMEOUT = 10.0

Progress = Callable[[str], None]


def run(argv: Sequence[str], what: str = "", *, input_text: str | None = None,
        timeout: float = 1800, env: dict[str, str] | None = None) -> str:
    """Run a command; its output. BackendError naming `what` (or the command) and the
    command's error. `env` adds to this process's environment."""
    label = what or shlex.join(argv)
    try:
        done = subprocess.run(list(argv), input=input_text, capture_output=True, text=True,
                              timeout=timeout, check=False,
                              env=None if env is None else {**os.environ, **env})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"{label}: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip())[-1500:]
        raise BackendError(f"{label} failed ({done.returncode}): {detail}")
    return done.stdout


def chroot(root: Path, *argv: str, timeout: float = 1800) -> str:
    return run(["chroot", str(root), "env", "DEBIAN_FRONTEND=noninteractive",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin", *argv], timeout=timeout)


def checkin(answers: Answers, mac: str, stage: str, message: str = "") -> None:
    """Tell the bootstrap daemon (the answers' check-in URL) where this install is. Never
    fails the install: a daemon that does not answer is logged."""
    if not answers.checkin_url:
        return
    body = json.dumps({"hostname": answers.hostname, "mac": mac, "stage": stage,
                       "message": message}).encode()
    request = urllib.request.Request(answers.checkin_url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=CHECKIN_TIMEOUT):
            pass
    except OSError as exc:
        log.warning("Check-in %s at %s failed: %s", stage, answers.checkin_url, exc)


def fetch_keys(url: str) -> list[str]:
    """The SSH public keys listed at `url` (an authorized_keys file)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read(1_000_000).decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnswerError(f"ssh_keys_url {url}: {exc}") from exc
    keys = [ssh_key(line) for line in text.splitlines()
            if line.strip() and not line.startswith("#")]
    if not keys:
        raise AnswerError(f"ssh_keys_url {url} lists no key")
    return keys


def network_up(answers: Answers, nic: str) -> None:
    """The answers' network on the live system, for check-ins and a keys URL: the
    interface (or its VLAN) up with the static address and gateway, or by DHCP. An
    interface the initramfs configured already (a network boot) is left as it is."""
    device = f"{nic}.{answers.vlan}" if answers.vlan else nic
    run(["ip", "link", "set", nic, "up"])
    if answers.vlan and not Path(f"/sys/class/net/{device}").exists():
        run(["ip", "link", "add", "link", nic, "name", device, "type", "vlan", "id",
             str(answers.vlan)])
        run(["ip", "link", "set", device, "up"])
    if run(["ip", "-o", "addr", "show", "dev", device, "scope", "global"]).strip():
        return
    if answers.address is None:
        run(["dhclient", "-1", device], timeout=120)
    else:
        run(["ip", "addr", "add", str(answers.address), "dev", device])
        if answers.gateway:
            run(["ip", "route", "replace", "default", "via", str(answers.gateway),
                 "dev", device])
    if answers.nameservers:
        resolv = Path("/etc/resolv.conf")
        resolv.unlink(missing_ok=True)
        resolv.write_text("".join(f"nameserver {n}\n" for n in answers.nameservers))


# -- the files that make the copy this node ----------------------------------------------

def interfaces_file(answers: Answers, nic: str) -> str:
    """/etc/network/interfaces (ifupdown, as the Ansible role `base` writes it later)."""
    device = f"{nic}.{answers.vlan}" if answers.vlan else nic
    out = ["# Written by the PVC installer; the Ansible role base replaces it.",
           "auto lo", "iface lo inet loopback", ""]
    if answers.vlan:
        out += [f"auto {nic}", f"iface {nic} inet manual", ""]
    out.append(f"auto {device}")
    if answers.address is None:
        out.append(f"iface {device} inet dhcp")
    else:
        family = "inet" if answers.address.version == 4 else "inet6"
        out += [f"iface {device} {family} static", f"    address {answers.address}"]
        if answers.gateway:
            out.append(f"    gateway {answers.gateway}")
    if answers.vlan:
        out.append(f"    vlan-raw-device {nic}")
    return "\n".join(out) + "\n"


def sources_list(mirror: str) -> str:
    security = mirror[: -len("/debian")] + "/debian-security" if mirror.endswith("/debian") \
        else "http://security.debian.org/debian-security"
    return (f"deb {mirror} {RELEASE} main contrib non-free-firmware\n"
            f"deb {mirror} {RELEASE}-updates main contrib non-free-firmware\n"
            f"deb {security} {RELEASE}-security main contrib non-free-firmware\n")


def hosts_file(answers: Answers) -> str:
    return (f"127.0.0.1\tlocalhost\n127.0.1.1\t{answers.hostname}\t{answers.short_hostname}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n")


def fstab(uuids: dict[str, str], filesystem: str) -> str:
    """`uuids`: mount point ("" for swap) -> filesystem UUID."""
    lines = ["# Written by the PVC installer"]
    for mount, fs, options, passno in (
            ("/", filesystem, "errors=remount-ro" if filesystem == "ext4" else "defaults", 1),
            ("/boot", "ext4", "defaults", 2), ("/boot/efi", "vfat", "umask=0077", 2),
            ("/var/lib/ceph", "ext4", "defaults", 2),
            ("/var/lib/zookeeper", "ext4", "defaults", 2)):
        lines.append(f"UUID={uuids[mount]}\t{mount}\t{fs}\t{options}\t0\t{passno}")
    lines.append(f"UUID={uuids['']}\tnone\tswap\tsw\t0\t0")
    return "\n".join(lines) + "\n"


GRUB_DEFAULTS = """# Written by the PVC installer: GRUB and the kernel on the serial console and the screen
GRUB_DEFAULT=0
GRUB_TIMEOUT=3
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
"""

FIRSTBOOT_UNIT = """[Unit]
Description=Tell the PVC bootstrap daemon this node has booted its installed system
After=network-online.target
Wants=network-online.target
ConditionPathExists=/etc/pvc-installer/checkin.json

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 /etc/pvc-installer/checkin.py
ExecStartPost=/bin/systemctl disable pvc-firstboot-checkin.service

[Install]
WantedBy=multi-user.target
"""

FIRSTBOOT_SCRIPT = """import json, time, urllib.request
c = json.load(open("/etc/pvc-installer/checkin.json"))
body = json.dumps({"hostname": c["hostname"], "mac": c["mac"], "stage": "booted",
                   "message": ""}).encode()
for _ in range(30):  # the network may take a while: 2.5 min at most
    try:
        urllib.request.urlopen(urllib.request.Request(
            c["url"], data=body, method="POST",
            headers={"Content-Type": "application/json"}), timeout=10)
        break
    except OSError:
        time.sleep(5)
"""


# -- the steps ------------------------------------------------------------------------------

def partition(disk: str, answers: Answers, disk_bytes: int) -> dict[str, str]:
    """Partition and format `disk`; the block device of each mount point ("" = swap)."""
    with contextlib.suppress(BackendError):  # an earlier install's volume group
        run(["vgchange", "-an", layout.VG])
    run(["wipefs", "--all", "--force", disk])
    run(["sfdisk", "--wipe", "always", "--wipe-partitions", "always", disk],
        input_text=layout.sfdisk_script())
    run(["udevadm", "settle"])
    part = {p.name: layout.partition_path(disk, p.number) for p in layout.PARTITIONS}
    run(["mkfs.vfat", "-F", "32", "-n", "EFI", part["efi"]])
    run(["mkfs.ext4", "-q", "-F", "-L", "boot", part["boot"]])
    run(["pvcreate", "-ff", "-y", part["pv"]])
    run(["vgcreate", "-y", layout.VG, part["pv"]])
    devices = {"/boot": part["boot"], "/boot/efi": part["efi"]}
    for vol in layout.volumes(disk_bytes):
        run(["lvcreate", "-y", "-W", "y", "-Z", "y", "-n", vol.name, "-L", f"{vol.size_mib}m",
             layout.VG])
        path = f"/dev/{layout.VG}/{vol.name}"
        if not vol.mount:
            run(["mkswap", "-L", "swap", path])
        elif vol.mount == "/" and answers.filesystem == "xfs":
            run(["mkfs.xfs", "-f", "-L", "root", path])
        else:
            run(["mkfs.ext4", "-q", "-F", "-L", vol.name, path])
        devices[vol.mount] = path
    return devices


def mount_target(devices: dict[str, str], root: Path = TARGET) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for mount in ("/", "/boot", "/boot/efi", "/var/lib/ceph", "/var/lib/zookeeper"):
        where = root / mount.lstrip("/")
        where.mkdir(parents=True, exist_ok=True)
        run(["mount", devices[mount], str(where)])


@contextlib.contextmanager
def system_mounts(root: Path) -> Iterator[None]:
    """/dev, /proc, /sys and /run of the live system inside the target, for chroot."""
    done: list[Path] = []
    try:
        for fs in ("dev", "proc", "sys", "run"):
            where = root / fs
            where.mkdir(exist_ok=True)
            run(["mount", "--rbind", f"/{fs}", str(where)])
            run(["mount", "--make-rslave", str(where)])
            done.append(where)
        yield
    finally:
        for where in reversed(done):
            with contextlib.suppress(BackendError):
                run(["umount", "--recursive", "--lazy", str(where)])


def copy_system(root: Path, squashfs: Path = LIVE_SQUASHFS) -> None:
    if not squashfs.is_file():
        raise BackendError(f"The live system's image {squashfs} is not there: is this the "
                           "PVC installer ISO?")
    # the system only: the installer's layer (live/pvc-installer.squashfs) is not the node's
    run(["unsquashfs", "-force", "-no-progress", "-dest", str(root), str(squashfs)])


def configure(root: Path, answers: Answers, target: Target, keys: list[str],
              devices: dict[str, str]) -> None:
    etc = root / "etc"
    (etc / "hostname").write_text(answers.short_hostname + "\n")
    (etc / "hosts").write_text(hosts_file(answers))
    (etc / "mailname").write_text(answers.hostname + "\n")
    uuids = {mount: run(["blkid", "-s", "UUID", "-o", "value", dev]).strip()
             for mount, dev in devices.items()}
    (etc / "fstab").write_text(fstab(uuids, answers.filesystem))
    (etc / "network").mkdir(exist_ok=True)
    (etc / "network/interfaces").write_text(interfaces_file(answers, target.nic.name))
    if answers.nameservers:
        resolv = etc / "resolv.conf"
        resolv.unlink(missing_ok=True)
        resolv.write_text("".join(f"nameserver {n}\n" for n in answers.nameservers))
    (etc / "apt/sources.list").write_text(sources_list(answers.mirror))
    (etc / "default/grub").write_text(GRUB_DEFAULTS)
    # a machine id and SSH host keys of its own
    (etc / "machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    chroot(root, "ssh-keygen", "-A")
    # the deploy user: a fixed uid, sudo without a password, the keys
    user = answers.deploy_user
    chroot(root, "useradd", "--create-home", "--uid", str(DEPLOY_UID), "--user-group",
           "--shell", "/bin/bash", "--groups", "sudo", "--comment", "PVC deploy user", user)
    (etc / "sudoers.d" / user).write_text(f"{user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    os.chmod(etc / "sudoers.d" / user, 0o440)
    home = root / "home" / user
    (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    (home / ".ssh/authorized_keys").write_text("\n".join(keys) + "\n")
    chroot(root, "chown", "-R", f"{user}:{user}", f"/home/{user}/.ssh")
    os.chmod(home / ".ssh/authorized_keys", 0o600)
    if answers.checkin_url:
        (etc / "pvc-installer").mkdir(exist_ok=True)
        (etc / "pvc-installer/checkin.json").write_text(json.dumps(
            {"url": answers.checkin_url, "hostname": answers.hostname,
             "mac": target.nic.mac}))
        (etc / "pvc-installer/checkin.py").write_text(FIRSTBOOT_SCRIPT)
        (etc / "systemd/system/pvc-firstboot-checkin.service").write_text(FIRSTBOOT_UNIT)
        chroot(root, "systemctl", "enable", "pvc-firstboot-checkin.service")
    if answers.packages:
        chroot(root, "apt-get", "update")
        chroot(root, "apt-get", "install", "-y", "--no-install-recommends", *answers.packages)


def boot_loader(root: Path, disk: str, progress: Progress) -> None:
    """GRUB for BIOS and UEFI (the system's initramfs was made by the ISO build)."""
    progress(f"      GRUB for BIOS on {disk}")
    chroot(root, "grub-install", "--target=i386-pc", disk)
    progress("      GRUB for UEFI (removable path, no NVRAM entry)")
    chroot(root, "grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi",
           "--removable", "--no-nvram")
    progress("      GRUB's menu")
    chroot(root, "update-grub")


def unmount_target(root: Path = TARGET) -> None:
    run(["sync"])
    with contextlib.suppress(BackendError):
        run(["umount", "--recursive", str(root)])
    with contextlib.suppress(BackendError):
        run(["vgchange", "-an", layout.VG])


STEPS = 6


def install(answers: Answers, target: Target, progress: Progress,
            root: Path = TARGET, squashfs: Path = LIVE_SQUASHFS) -> float:
    """Install onto the target; the seconds it took. Reports each stage by check-in."""
    started = time.monotonic()
    mac = target.nic.mac
    if answers.checkin_url or answers.ssh_keys_url:
        progress(f"Network on {target.nic.name} for "
                 + " and ".join(x for x, on in (("check-ins", answers.checkin_url),
                                                ("the keys URL", answers.ssh_keys_url)) if on))
        try:
            network_up(answers, target.nic.name)
        except BackendError as exc:
            log.warning("The network is not up: %s", exc.message)
    checkin(answers, mac, "installing")
    try:
        keys = list(answers.ssh_keys)
        if answers.ssh_keys_url:
            keys += fetch_keys(answers.ssh_keys_url)
        progress(f"[1/{STEPS}] Partitioning {target.disk.path}")
        devices = partition(target.disk.path, answers, target.disk.size)
        progress(f"[2/{STEPS}] Mounting the new filesystems on {root}")
        mount_target(devices, root)
        progress(f"[3/{STEPS}] Copying the system")
        copy_system(root, squashfs)
        with system_mounts(root):
            progress(f"[4/{STEPS}] Making it {answers.hostname}")
            configure(root, answers, target, keys, devices)
            progress(f"[5/{STEPS}] Installing the boot loader")
            boot_loader(root, target.disk.path, progress)
        progress(f"[6/{STEPS}] Unmounting")
        unmount_target(root)
    except Exception as exc:
        checkin(answers, mac, "failed", str(exc)[:2000])
        raise
    took = time.monotonic() - started
    checkin(answers, mac, "installed", f"{took:.0f} s")
    return took
