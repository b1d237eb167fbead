"""RBD volumes mapped as block devices (pvc.node.storage.mapping) on a real Ceph cluster:
this kernel has no RBD driver, so these run the qemu-storage-daemon FUSE export with a
loop device; a filesystem made and written through the device is in the volume after
the unmap, and nothing of the mapping is left behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pvc.common.errors import BackendError, InvalidArgument
from pvc.drivers.storage.ceph import CephStorage
from pvc.drivers.storage.qemu_img import CephFiles
from pvc.node.storage import mapping
from tests.integration.cephsupport import CephTestCluster

pytestmark = pytest.mark.integration

MiB = 1 << 20


@pytest.fixture(scope="module")
def pool(ceph_cluster: CephTestCluster) -> str:
    return ceph_cluster.new_pool("mapping")


@pytest.fixture(scope="module")
def storage(ceph_storage: CephStorage) -> CephStorage:
    return ceph_storage


@pytest.fixture
def ceph(ceph_cluster: CephTestCluster) -> CephFiles:
    return CephFiles(ceph_cluster.conf_path, ceph_cluster.keyring_path)


def _losetup_of(file: Path) -> list[str]:
    out = subprocess.run(["losetup", "--list", "--noheadings", "--output", "BACK-FILE"],
                         capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip() == str(file)]


def test_a_filesystem_written_through_the_mapped_device_is_in_the_volume(
        storage: CephStorage, pool: str, ceph: CephFiles, tmp_path: Path) -> None:
    if "fuse-loop" not in mapping.methods_available():
        pytest.skip("no qemu-storage-daemon, losetup or /dev/fuse")
    storage.volume_create(pool, "fs1", 64 * MiB)
    work = tmp_path / "maps"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with mapping.FuseLoopMapper(ceph, work) as volumes:
        dev = volumes.map(pool, "fs1")
        assert dev.name.startswith("loop") and dev.is_block_device()
        assert volumes.map(pool, "fs1") == dev  # mapped once per job
        subprocess.run(["mkfs.ext4", "-q", "-L", "pvcmap", str(dev)], check=True)
        subprocess.run(["mount", str(dev), str(mnt)], check=True)
        try:
            (mnt / "marker").write_text("written through the loop device\n")
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
        export = work / f"{pool}.fs1.export"
        assert _losetup_of(export)
    # unmapped: no loop device on the export, no export file, no daemon
    assert not _losetup_of(export)
    assert not (Path("/sys/block") / dev.name / "loop").exists()
    assert not export.exists()
    assert volumes.mapped() == {}
    # the ext4 superblock (magic 0xEF53 at 1024 + 56) is in Ceph
    assert storage.volume_read(pool, "fs1", 1024 + 56, 2) == b"\x53\xef"
    # mapped again by a new job, the file is there
    with mapping.mapper(ceph, work) as volumes:
        dev = volumes.map(pool, "fs1")
        subprocess.run(["mount", "-o", "ro", str(dev), str(mnt)], check=True)
        try:
            assert (mnt / "marker").read_text() == "written through the loop device\n"
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
    storage.volume_remove(pool, "fs1")


def test_a_missing_volume_is_an_error_naming_it_and_leaves_nothing(
        pool: str, ceph: CephFiles, tmp_path: Path) -> None:
    if "fuse-loop" not in mapping.methods_available():
        pytest.skip("no qemu-storage-daemon, losetup or /dev/fuse")
    volumes = mapping.FuseLoopMapper(ceph, tmp_path)
    with pytest.raises(BackendError, match=f"{pool}/nosuch"):
        volumes.map(pool, "nosuch")
    assert volumes.mapped() == {}
    assert not (tmp_path / f"{pool}.nosuch.export").exists()
    assert not _losetup_of(tmp_path / f"{pool}.nosuch.export")


def test_bad_names_are_refused_before_anything_runs(ceph: CephFiles, tmp_path: Path) -> None:
    volumes = mapping.FuseLoopMapper(ceph, tmp_path)
    for pool, volume in (("vms", "a,b"), ("../x", "v"), ("vms", "v/../../etc")):
        with pytest.raises(InvalidArgument):
            volumes.map(pool, volume)
    assert list(tmp_path.iterdir()) == []


def test_a_method_this_node_lacks_is_refused_by_name(ceph: CephFiles, tmp_path: Path) -> None:
    if os.path.exists("/sys/bus/rbd"):
        pytest.skip("this kernel has the RBD driver")
    with pytest.raises(BackendError, match="kernel-rbd"):
        mapping.mapper(ceph, tmp_path, method="kernel-rbd")
