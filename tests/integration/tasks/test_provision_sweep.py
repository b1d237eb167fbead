"""A build cut short leaves a mounted filesystem on a loop device on a
qemu-storage-daemon export (real Ceph); the worker's start-up sweep unmounts, detaches,
stops the daemon and removes the directory, and touches nothing outside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pvc.drivers.storage.ceph import CephStorage
from pvc.drivers.storage.qemu_img import CephFiles
from pvc.node.storage import mapping
from pvc.tasks.provisioner import sweep
from tests.integration.cephsupport import CephTestCluster

pytestmark = pytest.mark.integration


def test_the_sweep_clears_a_stranded_build_and_nothing_else(
        ceph_cluster: CephTestCluster, ceph_storage: CephStorage, tmp_path: Path) -> None:
    if "fuse-loop" not in mapping.methods_available():
        pytest.skip("no qemu-storage-daemon, losetup or /dev/fuse")
    pool = ceph_cluster.new_pool("sweep")
    ceph_storage.volume_create(pool, "stranded", 32 << 20)
    build = tmp_path / "pvc-provision-web1-abc"
    other = tmp_path / "not-a-build"
    other.mkdir()
    (other / "keep").write_text("mine")
    mapper = mapping.FuseLoopMapper(CephFiles(ceph_cluster.conf_path,
                                              ceph_cluster.keyring_path), build / "maps")
    dev = mapper.map(pool, "stranded")
    subprocess.run(["mkfs.ext4", "-q", str(dev)], check=True)
    target = build / "target"
    target.mkdir()
    subprocess.run(["mount", str(dev), str(target)], check=True)
    daemon = next(iter(mapper._exports.values())).proc  # the worker that made it "died"
    assert mapping.mounts_under(build.resolve()) and sweep._loops_under(build.resolve())

    report = sweep.sweep(tmp_path)

    assert len(report) == 1 and "removed (2 mount(s), 1 loop device(s), 1 export " \
                                  "daemon(s))" in report[0], report
    daemon.wait(10)  # stopped (reaped here: the test is its parent)
    assert not build.exists() and (other / "keep").read_text() == "mine"
    assert mapping.mounts_under(tmp_path.resolve()) == []
    assert sweep._loops_under(tmp_path.resolve()) == []
    assert not (Path("/sys/block") / dev.name / "loop").exists()  # detached, not orphaned
    ceph_storage.volume_remove(pool, "stranded")  # no longer open by anyone
    assert sweep.sweep(tmp_path) == []
