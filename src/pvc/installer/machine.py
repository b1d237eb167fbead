"""The machine the installer runs on: its disks and network interfaces, and the checks
of the answers against them (a disk that is not there, an interface that is not there),
made before anything is written."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pvc.installer.answers import AnswerError, Answers, DiskChoice

MIN_DISK = 4 * 1000**3  # the root, /boot and swap of the smallest layout fit in 4 GB


@dataclass(frozen=True)
class Disk:
    path: str  # /dev/vda
    model: str
    size: int  # bytes
    read_only: bool = False
    in_use: bool = False  # holds the running live system (or is mounted)


@dataclass(frozen=True)
class Nic:
    name: str
    mac: str


def disks() -> list[Disk]:
    """The whole disks of this machine (lsblk)."""
    return from_lsblk(subprocess.run(
        ["lsblk", "--json", "--bytes", "--output",
         "NAME,PATH,MODEL,SIZE,TYPE,RO,MOUNTPOINTS"],
        capture_output=True, text=True, check=True, timeout=30).stdout)


def from_lsblk(out: str) -> list[Disk]:
    """The whole disks in lsblk's JSON. Floppy drives (fdN: a BMC's virtual floppy, or
    QEMU's) and drives with no medium in them (size 0: a card reader, empty virtual
    media) are none."""
    found = []
    for dev in json.loads(out).get("blockdevices", []):
        if dev.get("type") != "disk" or not int(dev.get("size") or 0) or \
                re.fullmatch(r"fd\d+", str(dev.get("name"))):
            continue
        mounts = [m for m in _mountpoints(dev) if m]
        found.append(Disk(path=dev["path"], model=(dev.get("model") or "").strip(),
                          size=int(dev.get("size") or 0), read_only=bool(dev.get("ro")),
                          in_use=bool(mounts)))
    return found


def _mountpoints(dev: dict[str, object]) -> list[str]:
    points = [str(m) for m in dev.get("mountpoints") or [] if m]  # type: ignore[attr-defined]
    for child in dev.get("children") or []:  # type: ignore[attr-defined]
        points += _mountpoints(child)
    return points


def nics(sys_net: Path = Path("/sys/class/net")) -> list[Nic]:
    """The machine's physical network interfaces (those with a device behind them)."""
    found = []
    for entry in sorted(sys_net.iterdir()):
        if not (entry / "device").exists():
            continue
        try:
            mac = (entry / "address").read_text().strip().lower()
        except OSError:
            continue
        found.append(Nic(entry.name, mac))
    return found


def pick_disk(choice: DiskChoice, available: list[Disk]) -> Disk:
    """The disk the answer names, or the one its detect: rule picks; AnswerError if none
    fits (naming what there is)."""
    listing = ", ".join(f"{d.path} ({d.model or 'no model'}, {d.size / 1000**3:.1f} GB)"
                        for d in available) or "none"
    if choice.path:
        matches = [d for d in available if d.path == choice.path]
        if not matches:
            raise AnswerError(f"disk {choice.path} is not a disk of this machine "
                              f"(disks: {listing})")
        chosen = matches[0]
    else:
        fits = [d for d in available
                if choice.model.lower() in d.model.lower()
                and (choice.size_bytes is None
                     or abs(d.size - choice.size_bytes) <= choice.size_bytes * 0.1)]
        if len(fits) <= choice.index:
            raise AnswerError(f"disk {choice}: {len(fits)} disks fit the rule, so there is "
                              f"no disk {choice.index} (disks: {listing})")
        chosen = fits[choice.index]
    if chosen.read_only or chosen.in_use:
        raise AnswerError(f"disk {chosen.path} is {'read-only' if chosen.read_only else 'in use'}"
                          " (the installer's own medium?)")
    if chosen.size < MIN_DISK:
        raise AnswerError(f"disk {chosen.path} has {chosen.size / 1000**3:.1f} GB; the "
                          f"installer needs {MIN_DISK // 1000**3} GB or more")
    return chosen


def pick_nic(wanted: str, available: list[Nic]) -> Nic:
    """The interface named (or with that MAC address)."""
    for nic in available:
        if wanted in (nic.name, nic.mac):
            return nic
    listing = ", ".join(f"{n.name} ({n.mac})" for n in available) or "none"
    raise AnswerError(f"interface {wanted} is not an interface of this machine "
                      f"(interfaces: {listing})")


@dataclass(frozen=True)
class Target:
    """The answers resolved on this machine."""

    disk: Disk
    nic: Nic


def check(answers: Answers, available_disks: list[Disk], available_nics: list[Nic]) -> Target:
    return Target(pick_disk(answers.disk, available_disks),
                  pick_nic(answers.interface, available_nics))
