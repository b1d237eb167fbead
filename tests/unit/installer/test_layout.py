"""The target disk's layout for disks of every size."""

from __future__ import annotations

import pytest

from pvc.installer import layout
from pvc.installer.layout import GB, MiB


@pytest.mark.parametrize(("disk", "sizes"), [
    (960 * GB, [32768, 8192, 32768, 16384]),
    (100 * GB, [32768, 8192, 32768, 16384]),
    (64 * GB, [8192, 4096, 8192, 8192]),
])
def test_real_disks_get_pvcs_volume_sizes(disk: int, sizes: list[int]) -> None:
    assert [v.size_mib for v in layout.volumes(disk)] == sizes
    assert [v.mount for v in layout.volumes(disk)] == [
        "/", "/var/lib/ceph", "/var/lib/zookeeper", ""]


@pytest.mark.parametrize("disk", [4 * GB, 8 * GB, 39 * GB])
def test_small_disks_get_shares_that_fit(disk: int) -> None:
    vols = layout.volumes(disk)
    total = sum(v.size_mib for v in vols)
    pv = disk // MiB - layout.OVERHEAD_MIB
    assert total <= pv * 0.9 and all(v.size_mib % 4 == 0 and v.size_mib > 0 for v in vols)
    assert vols[0].size_mib == max(v.size_mib for v in vols)  # the root is the largest


def test_the_partition_table() -> None:
    script = layout.sfdisk_script()
    assert script.splitlines() == [
        "label: gpt",
        f"size=1MiB, type={layout.BIOS_BOOT}, name=bios",
        f"size=256MiB, type={layout.EFI_SYSTEM}, name=efi",
        f"size=512MiB, type={layout.LINUX_FS}, name=boot",
        f"type={layout.LINUX_LVM}, name=pv"]


@pytest.mark.parametrize(("disk", "part"), [
    ("/dev/sda", "/dev/sda3"), ("/dev/vda", "/dev/vda3"), ("/dev/nvme0n1", "/dev/nvme0n1p3"),
    ("/dev/loop7", "/dev/loop7p3")])
def test_partition_paths(disk: str, part: str) -> None:
    assert layout.partition_path(disk, 3) == part
