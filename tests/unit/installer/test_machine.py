"""The answers checked against the machine's disks and interfaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvc.installer import machine
from pvc.installer.answers import AnswerError, DiskChoice
from pvc.installer.machine import Disk, Nic

GB = 1000**3
DISKS = [Disk("/dev/sr0", "QEMU DVD-ROM", 400 * 1000**2, read_only=True, in_use=True),
         Disk("/dev/vda", "", 8 * GB), Disk("/dev/sda", "INTEL SSDSC2KB96", 960 * GB),
         Disk("/dev/sdb", "INTEL SSDSC2KB96", 960 * GB), Disk("/dev/sdc", "SAMSUNG", 2 * GB)]
NICS = [Nic("ens3", "52:54:00:aa:bb:01"), Nic("ens4", "52:54:00:aa:bb:02")]


@pytest.mark.parametrize(("choice", "path"), [
    (DiskChoice(path="/dev/vda"), "/dev/vda"),
    (DiskChoice(model="intel", size_bytes=1000 * GB, index=0), "/dev/sda"),
    (DiskChoice(model="INTEL", size_bytes=960 * GB, index=1), "/dev/sdb"),
    (DiskChoice(model="", size_bytes=8 * GB, index=0), "/dev/vda"),
])
def test_the_disk_named_or_detected(choice: DiskChoice, path: str) -> None:
    assert machine.pick_disk(choice, DISKS).path == path


@pytest.mark.parametrize(("choice", "message"), [
    (DiskChoice(path="/dev/vdz"), "disk /dev/vdz is not a disk of this machine (disks: "),
    (DiskChoice(model="INTEL", size_bytes=960 * GB, index=2), "2 disks fit the rule"),
    (DiskChoice(model="INTEL", size_bytes=480 * GB, index=0), "0 disks fit the rule"),
    (DiskChoice(path="/dev/sr0"), "disk /dev/sr0 is read-only"),
    (DiskChoice(path="/dev/sdc"), "disk /dev/sdc has 2.0 GB; the installer needs 4 GB"),
])
def test_a_disk_that_does_not_fit_is_refused(choice: DiskChoice, message: str) -> None:
    with pytest.raises(AnswerError, match=r"^disk ") as err:
        machine.pick_disk(choice, DISKS)
    assert message in err.value.message


def test_the_interface_by_name_or_mac() -> None:
    assert machine.pick_nic("ens4", NICS) == NICS[1]
    assert machine.pick_nic("52:54:00:aa:bb:01", NICS) == NICS[0]
    with pytest.raises(AnswerError, match=r"interface eth0 is not an interface of this "
                       r"machine \(interfaces: ens3 \(52:54:00:aa:bb:01\), ens4"):
        machine.pick_nic("eth0", NICS)


def test_nics_are_those_with_a_device(tmp_path: Path) -> None:
    for name, mac, device in (("lo", "00:00:00:00:00:00", False),
                              ("ens3", "52:54:00:AA:BB:01", True),
                              ("br0", "52:54:00:aa:bb:09", False)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "address").write_text(mac + "\n")
        if device:
            (tmp_path / name / "device").mkdir()
    assert machine.nics(tmp_path) == [Nic("ens3", "52:54:00:aa:bb:01")]


def test_disks_are_whole_disks_with_a_medium() -> None:
    """lsblk as the ISO's live system shows it under QEMU: the floppy drive, an empty
    card reader and the CD are no targets."""
    out = json.dumps({"blockdevices": [
        {"name": "fd0", "path": "/dev/fd0", "model": None, "size": 4096, "type": "disk",
         "ro": False, "mountpoints": [None]},
        {"name": "sdb", "path": "/dev/sdb", "model": "Card Reader", "size": 0,
         "type": "disk", "ro": False, "mountpoints": [None]},
        {"name": "sr0", "path": "/dev/sr0", "model": "QEMU DVD-ROM", "size": 460324864,
         "type": "rom", "ro": True, "mountpoints": ["/run/live/medium"]},
        {"name": "vda", "path": "/dev/vda", "model": None, "size": 8589934592,
         "type": "disk", "ro": False, "mountpoints": [None], "children": [
             {"name": "vda1", "path": "/dev/vda1", "model": None, "size": 1048576,
              "type": "part", "ro": False, "mountpoints": ["/mnt"]}]},
        {"name": "sda", "path": "/dev/sda", "model": "INTEL SSDSC2KB96 ",
         "size": 960 * GB, "type": "disk", "ro": True, "mountpoints": [None]},
    ]})
    assert machine.from_lsblk(out) == [
        Disk("/dev/vda", "", 8589934592, read_only=False, in_use=True),
        Disk("/dev/sda", "INTEL SSDSC2KB96", 960 * GB, read_only=True, in_use=False)]
