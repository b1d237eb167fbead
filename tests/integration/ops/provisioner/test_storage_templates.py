"""Storage templates on a real PostgreSQL: disks as PVC shows them, and every refusal
leaving the tables as they were."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.db import migrate
from pvc.db.engine import Database
from pvc.db.models import Profile, StorageTemplate, TemplateDisk
from pvc.ops.provisioner import storage_templates as st
from pvc.ops.provisioner.storage_templates import Disk

pytestmark = pytest.mark.integration


@pytest.fixture
def pdb(db: Database) -> Iterator[Database]:
    migrate.upgrade(db)
    yield db


def rows(db: Database) -> tuple[int | None, int | None]:
    """How many templates and disks the tables hold."""
    return db.run(lambda s: (s.scalar(select(func.count()).select_from(StorageTemplate)),
                             s.scalar(select(func.count()).select_from(TemplateDisk))))


def disk_ids(db: Database, name: str) -> list[str]:
    return [d["disk_id"] for d in st.list_disks(db, name)]


ROOT = Disk("sda", "vms", disk_size_gb=20, filesystem="ext4",
            filesystem_args=("-L", "root", "-E", "lazy_itable_init=0"), mountpoint="/")


def test_a_template_holds_its_disks_with_pvc_fields(pdb: Database) -> None:
    st.add(pdb, "web")
    st.add(pdb, "bare")
    st.add_disk(pdb, "web", ROOT)
    st.add_disk(pdb, "web", Disk("sdb", "vms", source_volume="golden-data_1",
                                 filesystem="xfs", mountpoint="/srv/data"))
    st.add_disk(pdb, "web", Disk("sdc", "ssd", disk_size_gb=4, filesystem="swap"))
    st.add_disk(pdb, "web", Disk("vdd", "vms", disk_size_gb=65536))  # raw, unformatted
    assert [t["name"] for t in st.list_templates(pdb)] == ["bare", "web"]
    web = st.get(pdb, "web")
    assert set(web) == {"id", "name", "disks"}
    sda, sdb, sdc, vdd = web["disks"]
    assert {k: sda[k] for k in sda if k != "id"} == {
        "storage_template": web["id"], "disk_id": "sda", "pool": "vms", "source_volume": None,
        "disk_size_gb": 20, "filesystem": "ext4", "filesystem_args": "-L root -E "
        "lazy_itable_init=0", "mountpoint": "/"}
    assert (sdb["source_volume"], sdb["disk_size_gb"], sdb["mountpoint"]) == (
        "golden-data_1", None, "/srv/data")
    assert (sdc["filesystem"], sdc["mountpoint"], sdc["filesystem_args"]) == ("swap", None,
                                                                            None)
    assert (vdd["filesystem"], vdd["disk_size_gb"]) == (None, 65536)
    assert st.get(pdb, "bare")["disks"] == [] and st.list_disks(pdb, "bare") == []
    assert st.get_disk(pdb, "web", "sdb") == sdb
    assert [t["name"] for t in st.list_templates(pdb, "^we")] == ["web"]
    # the stored arguments split back into exactly those given
    assert sda["filesystem_args"].split(" ") == list(ROOT.filesystem_args)


def test_removing_a_disk_and_a_template(pdb: Database) -> None:
    st.add(pdb, "web")
    st.add(pdb, "db")
    st.add_disk(pdb, "web", ROOT)
    st.add_disk(pdb, "web", Disk("sdb", "vms", disk_size_gb=1))
    st.add_disk(pdb, "db", Disk("sda", "vms", disk_size_gb=1))
    st.remove_disk(pdb, "web", "sda")
    assert disk_ids(pdb, "web") == ["sdb"]
    with pytest.raises(NotFound, match="sda"):
        st.remove_disk(pdb, "web", "sda")
    with pytest.raises(NotFound, match="sdz"):
        st.get_disk(pdb, "web", "sdz")
    # the freed disk id and mountpoint may be used again
    st.add_disk(pdb, "web", ROOT)
    assert disk_ids(pdb, "web") == ["sdb", "sda"]
    st.remove(pdb, "web")
    assert [t["name"] for t in st.list_templates(pdb)] == ["db"]
    assert rows(pdb) == (1, 1)


BAD_DISKS = [
    (Disk("sdA", "vms", disk_size_gb=1), "disk id"),
    (Disk("sda1", "vms", disk_size_gb=1), "disk id"),
    (Disk("nvme0n1", "vms", disk_size_gb=1), "disk id"),
    (Disk("sda\n", "vms", disk_size_gb=1), "disk id"),
    (Disk("../a", "vms", disk_size_gb=1), "disk id"),
    (Disk("sda", "", disk_size_gb=1), "pool"),
    (Disk("sda", "vms/evil", disk_size_gb=1), "pool"),
    (Disk("sda", "vms\n", disk_size_gb=1), "pool"),
    (Disk("sda", "vms"), "either a disk size"),
    (Disk("sda", "vms", disk_size_gb=1, source_volume="base"), "either a disk size"),
    (Disk("sda", "vms", disk_size_gb=0), "disk size"),
    (Disk("sda", "vms", disk_size_gb=65537), "disk size"),
    (Disk("sda", "vms", source_volume="base@snap"), "source volume"),
    (Disk("sda", "vms", source_volume="a b"), "source volume"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem="ntfs"), "filesystem"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem="EXT4"), "filesystem"),
    (Disk("sda", "vms", disk_size_gb=1, mountpoint="/"), "need a filesystem"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem_args=("-L",)), "need a filesystem"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem="swap", mountpoint="/swap"), "swap"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem="ext4", filesystem_args=("-L root",)),
     "filesystem argument"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem="ext4", filesystem_args=("-L;reboot",)),
     "filesystem argument"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem="ext4", filesystem_args=("$(id)",)),
     "filesystem argument"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem="ext4", filesystem_args=("",)),
     "filesystem argument"),
    (Disk("sda", "vms", disk_size_gb=1, filesystem="ext4", filesystem_args=("a\n",)),
     "filesystem argument"),
    *[(Disk("sda", "vms", disk_size_gb=1, filesystem="ext4", mountpoint=m), "mountpoint")
      for m in ("srv", "/srv/", "//srv", "/srv/../etc", "/srv/./x", "/..", "/a b",
                "/srv\n", "/$HOME", "/" + "a" * 255)],
]


@pytest.mark.parametrize(("disk", "message"), BAD_DISKS)
def test_bad_disks_are_refused_and_nothing_changes(pdb: Database, disk: Disk,
                                                   message: str) -> None:
    st.add(pdb, "web")
    st.add_disk(pdb, "web", Disk("vda", "vms", disk_size_gb=1))
    with pytest.raises(InvalidArgument, match=message):
        st.add_disk(pdb, "web", disk)
    assert disk_ids(pdb, "web") == ["vda"] and rows(pdb) == (1, 1)


def test_one_disk_per_id_and_per_mountpoint(pdb: Database) -> None:
    st.add(pdb, "web")
    st.add_disk(pdb, "web", ROOT)
    with pytest.raises(AlreadyExists, match="already has a disk sda"):
        st.add_disk(pdb, "web", Disk("sda", "ssd", disk_size_gb=2))
    with pytest.raises(AlreadyExists, match="sda at /"):
        st.add_disk(pdb, "web", Disk("sdb", "vms", disk_size_gb=2, filesystem="xfs",
                                     mountpoint="/"))
    assert st.list_disks(pdb, "web")[0]["pool"] == "vms" and rows(pdb) == (1, 1)
    # two disks without a mountpoint are fine, and another template may reuse both
    st.add_disk(pdb, "web", Disk("sdb", "vms", disk_size_gb=2, filesystem="swap"))
    st.add_disk(pdb, "web", Disk("sdc", "vms", disk_size_gb=2))
    st.add(pdb, "db")
    st.add_disk(pdb, "db", ROOT)
    assert disk_ids(pdb, "web") == ["sda", "sdb", "sdc"] and disk_ids(pdb, "db") == ["sda"]


def test_concurrent_additions_of_one_disk_add_it_once(pdb: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    st.add(pdb, "web")

    def attempt(n: int) -> str:
        try:
            st.add_disk(pdb, "web", Disk(f"sd{'abcdefgh'[n]}", "vms", disk_size_gb=1,
                                         filesystem="ext4", mountpoint="/data"))
            return "added"
        except AlreadyExists:
            return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert sorted(outcomes) == ["added"] + ["refused"] * 7
    assert rows(pdb) == (1, 1)


@pytest.mark.parametrize("name", ["bad name", "x;drop", "", "web\n", "-web"])
def test_bad_names_create_nothing(pdb: Database, name: str) -> None:
    with pytest.raises(InvalidArgument, match="name"):
        st.add(pdb, name)
    assert rows(pdb) == (0, 0)


def test_duplicates_unknown_names_and_templates_in_use(pdb: Database) -> None:
    st.add(pdb, "web")
    st.add_disk(pdb, "web", ROOT)
    with pytest.raises(AlreadyExists, match="web"):
        st.add(pdb, "web")
    for call in (lambda: st.get(pdb, "nope"), lambda: st.remove(pdb, "nope"),
                 lambda: st.list_disks(pdb, "nope"), lambda: st.add_disk(pdb, "nope", ROOT),
                 lambda: st.remove_disk(pdb, "nope", "sda"),
                 lambda: st.get_disk(pdb, "nope", "sda")):
        with pytest.raises(NotFound, match="nope"):
            call()
    assert rows(pdb) == (1, 1)

    def in_use(s: Session) -> None:
        template = s.scalars(select(StorageTemplate)).one()
        s.add(Profile(name="p", storage_template=template.id))

    pdb.run(in_use)
    with pytest.raises(Conflict, match="profile"):
        st.remove(pdb, "web")
    assert rows(pdb) == (1, 1) and disk_ids(pdb, "web") == ["sda"]


def test_a_bad_limit_is_a_clear_error(pdb: Database) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        st.list_templates(pdb, "([")
