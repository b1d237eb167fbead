"""How the target disk is divided: a GPT with a BIOS boot partition, an EFI system
partition, `/boot` and one LVM physical volume, whose volume group `vgx` holds the root,
`/var/lib/ceph`, `/var/lib/zookeeper` and swap (as PVC's installer lays a node out, so
that a node boots by BIOS or UEFI and Ceph's and ZooKeeper's data have volumes of their
own).

Disks of 100 GB or more get 32/8/32/16 GB; from 40 GB, 8/4/8/8 GB; smaller disks (labs,
test guests) get shares of the volume group, so that a few GB are enough.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024**2
GiB = 1024**3
GB = 1000**3

# GPT partition type GUIDs
BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
EFI_SYSTEM = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
LINUX_LVM = "E6D6D379-F507-44C2-A23C-238F2A3DF928"

VG = "vgx"


@dataclass(frozen=True)
class Partition:
    number: int
    size_mib: int | None  # None: the rest of the disk
    type_guid: str
    name: str


PARTITIONS = (
    Partition(1, 1, BIOS_BOOT, "bios"),
    Partition(2, 256, EFI_SYSTEM, "efi"),
    Partition(3, 512, LINUX_FS, "boot"),
    Partition(4, None, LINUX_LVM, "pv"),
)
OVERHEAD_MIB = 2 + sum(p.size_mib or 0 for p in PARTITIONS)  # and the GPT at both ends


@dataclass(frozen=True)
class Volume:
    name: str  # the LV's name in vgx
    mount: str  # "" for swap
    size_mib: int


def volumes(disk_bytes: int) -> list[Volume]:
    """The logical volumes for a disk of this size (the root's filesystem is the
    answers' choice; the others are ext4)."""
    sizes: tuple[int, ...]
    if disk_bytes >= 100 * GB:
        sizes = (32 * 1024, 8 * 1024, 32 * 1024, 16 * 1024)
    elif disk_bytes >= 40 * GB:
        sizes = (8 * 1024, 4 * 1024, 8 * 1024, 8 * 1024)
    else:
        # the volume group's extents (4 MiB) less 10 % kept free, as 60/10/10/20 %
        vg_mib = (disk_bytes // MiB - OVERHEAD_MIB - 8) // 4 * 4
        usable = vg_mib * 9 // 10
        sizes = tuple(usable * share // 100 // 4 * 4 for share in (60, 10, 10, 20))
    root, ceph, zookeeper, swap = sizes
    return [Volume("root", "/", root), Volume("ceph", "/var/lib/ceph", ceph),
            Volume("zookeeper", "/var/lib/zookeeper", zookeeper), Volume("swap", "", swap)]


def sfdisk_script() -> str:
    """The partition table as `sfdisk` input."""
    lines = ["label: gpt"]
    for p in PARTITIONS:
        size = f"size={p.size_mib}MiB, " if p.size_mib else ""
        lines.append(f"{size}type={p.type_guid}, name={p.name}")
    return "\n".join(lines) + "\n"


def partition_path(disk: str, number: int) -> str:
    """/dev/sda -> /dev/sda1; /dev/nvme0n1 or /dev/loop0 -> /dev/nvme0n1p1."""
    return f"{disk}{'p' if disk[-1].isdigit() else ''}{number}"
