"""OVA import on real PostgreSQL, Ceph, ZooKeeper and qemu-img: the archive streamed in
small chunks, each disk image written as it is into its volume, the OVF, template and
profile stored; every refusal (a descriptor not first, a missing image, more bytes than
ova_size, a name in use) leaves no volume and no row; removal takes it all away."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pvc.common.errors import AlreadyExists, InvalidArgument
from pvc.db import migrate
from pvc.db.engine import Database
from pvc.drivers.storage.ceph import CephStorage
from pvc.ops.provisioner import ova, profiles, system_templates
from pvc.state import tree
from pvc.state.store import Store
from tests import ovasupport
from tests.integration.cephsupport import CephTestCluster

pytestmark = pytest.mark.integration
MiB = 1 << 20


@pytest.fixture(scope="module")
def storage(ceph_storage: CephStorage) -> CephStorage:
    return ceph_storage


@pytest.fixture(scope="module")
def pool(ceph_cluster: CephTestCluster) -> str:
    return ceph_cluster.new_pool("ova")


@pytest.fixture
def env(db: Database, store: Store, storage: CephStorage, pool: str) -> Iterator[Any]:
    migrate.upgrade(db)
    tree.initialize(store)
    (store.txn().create("pool", {"name": pool}, pool=pool).create("pool.volumes", "", pool=pool)
     .create("pool.snapshots", "", pool=pool).commit())
    yield db, store, storage
    for name in storage.volume_names(pool):
        storage.volume_remove(pool, name)


def chunks(path: Path, size: int = 3000) -> Iterator[bytes]:
    with path.open("rb") as f:
        while block := f.read(size):
            yield block


def archive(tmp_path: Path, name: str = "m") -> tuple[Path, Path]:
    raw = tmp_path / "d.raw"
    raw.write_bytes(b"OVA-DISK-MARK".ljust(2 * MiB, b"\0"))
    vmdk = ovasupport.vmdk_from(raw, tmp_path / "m-disk1.vmdk")
    path = ovasupport.ova(tmp_path / f"{name}.ova",
                          ovasupport.ovf(name, 2, 256, [(vmdk.name, 2 * MiB)]), [vmdk])
    return path, vmdk


def test_an_ova_imports_into_volumes_rows_template_and_profile_and_is_removed(
        env: Any, pool: str, tmp_path: Path) -> None:
    db, store, storage = env
    path, vmdk = archive(tmp_path)
    said = ova.upload(db, store, storage, pool, "m", path.stat().st_size, chunks(path))
    assert 'Imported OVA "m"' in said
    assert ova.get(db, "m")["volumes"] == [{"disk_id": "sda", "disk_size_gb": "1",
                                           "pool": pool, "volume_format": "vmdk",
                                           "volume_name": "ova_m_sda"}]
    # the image as it was uploaded, byte for byte (converted only when deployed)
    assert storage.volume_read(pool, "ova_m_sda", 0, vmdk.stat().st_size) == vmdk.read_bytes()
    assert store.exists("volume", pool=pool, volume="ova_m_sda")
    system = system_templates.get(db, "m")
    assert (system["vcpu_count"], system["vram_mb"], system["serial"]) == (2, 256, True)
    prof = profiles.get(db, "m")
    assert (prof["type"], prof["ova"], prof["system_template"]) == ("ova", "m", "m")
    with pytest.raises(AlreadyExists):
        ova.upload(db, store, storage, pool, "m", path.stat().st_size, chunks(path))
    ova.remove(db, store, storage, "m")
    assert ova.list_ovas(db) == [] and storage.volume_names(pool) == []
    assert not store.exists("volume", pool=pool, volume="ova_m_sda")
    assert [p["name"] for p in profiles.list_profiles(db)] == []


@pytest.mark.parametrize("case", ["image-first", "no-image", "too-long", "not-tar"])
def test_a_bad_archive_is_refused_and_leaves_nothing(env: Any, pool: str, tmp_path: Path,
                                                     case: str) -> None:
    db, store, storage = env
    good, vmdk = archive(tmp_path)
    path, size, said = good, good.stat().st_size, ""
    if case == "image-first":
        path = tmp_path / "x.ova"
        with tarfile.open(path, "w") as tar:
            tar.add(vmdk, arcname=vmdk.name)
        size, said = path.stat().st_size, "does not start with its .ovf"
    elif case == "no-image":
        path = ovasupport.ova(tmp_path / "y.ova", ovasupport.ovf("y", 1, 256, [(
            vmdk.name, 2 * MiB), ("other.vmdk", MiB)]), [vmdk])
        size, said = path.stat().st_size, "lacks the disk image"
    elif case == "too-long":
        size, said = good.stat().st_size - 10_000, "larger than its ova_size"
    else:
        path = vmdk
        size, said = path.stat().st_size, "not an OVA"
    with pytest.raises(InvalidArgument, match=said):
        ova.upload(db, store, storage, pool, "bad", size, chunks(path))
    assert storage.volume_names(pool) == []
    assert ova.list_ovas(db) == [] and profiles.list_profiles(db) == []
