"""The domain-XML edits behind `pvc vm volume add|remove`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pvc.common import vmxml
from pvc.common import vmxml_disks as disks
from pvc.common.errors import AlreadyExists, InvalidArgument, NotFound

SECRET = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
RBD_DISK = (
    "<disk type='network' device='disk'><driver name='qemu' discard='unmap'/>"
    "<source protocol='rbd' name='vms/web_sda'><host name='10.0.2.1' port='6789'/>"
    "<host name='10.0.2.2' port='6789'/></source>"
    f"<auth username='libvirt'><secret type='ceph' uuid='{SECRET}'/></auth>"
    "<target dev='sda' bus='scsi'/></disk>"
)


def domain(disk_xml: str = RBD_DISK, extra: str = "") -> str:
    return (
        "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
        "<name>web</name><uuid>7b8c7fb2-6f45-4a3b-9a46-2b0f1f9a7c11</uuid>"
        "<memory unit='MiB'>512</memory><vcpu>1</vcpu><devices>"
        f"<emulator>/usr/bin/qemu-system-x86_64</emulator>{disk_xml}"
        "<interface type='bridge'><mac address='52:54:00:00:00:01'/>"
        f"<source bridge='vmbr100'/><model type='virtio'/></interface>{extra}</devices>"
        "<qemu:commandline><qemu:arg value='-no-user-config'/></qemu:commandline></domain>"
    )


def _disks(xml: str) -> list[dict[str, str]]:
    return vmxml.parse(xml).disk_list()


def test_an_rbd_disk_copies_the_monitors_and_auth_of_the_existing_one() -> None:
    xml = domain()
    access = disks.rbd_access_of(xml)
    assert access == disks.RbdAccess((("10.0.2.1", "6789"), ("10.0.2.2", "6789")),
                                     "libvirt", SECRET)
    new = disks.add_disk(xml, "vms/data", access=access)
    assert _disks(new) == [
        {"type": "rbd", "name": "vms/web_sda", "dev": "sda", "bus": "scsi"},
        {"type": "rbd", "name": "vms/data", "dev": "sdb", "bus": "scsi"},
    ]
    root = disks.parse(new)
    added = root.findall("devices/disk")[1]
    assert added.get("type") == "network"
    assert [(h.get("name"), h.get("port")) for h in added.findall("source/host")] == [
        ("10.0.2.1", "6789"), ("10.0.2.2", "6789")]
    assert added.find("auth").get("username") == "libvirt"  # type: ignore[union-attr]
    assert added.find("auth/secret").get("uuid") == SECRET  # type: ignore[union-attr]
    # it went right after the last disk, before the interface; the rest is untouched
    assert [el.tag for el in root.find("devices")] == [  # type: ignore[union-attr]
        "emulator", "disk", "disk", "interface"]
    assert "qemu:commandline" in new and "-no-user-config" in new
    assert disks.remove_disk(new, "vms/data") == disks.remove_disk(
        disks.add_disk(xml, "vms/data", access=access), "vms/data")


def test_disk_ids_follow_the_bus_and_skip_used_ones() -> None:
    access = disks.rbd_access_of(domain())
    xml = disks.add_disk(domain(), "vms/a", access=access, disk_id="sdc")
    xml = disks.add_disk(xml, "vms/b", access=access)
    xml = disks.add_disk(xml, "vms/c", access=access, bus="virtio")
    xml = disks.add_disk(xml, "/srv/images/d.img", disk_type="file", bus="ide")
    assert [(d["name"], d["dev"], d["bus"]) for d in _disks(xml)] == [
        ("vms/web_sda", "sda", "scsi"), ("vms/a", "sdc", "scsi"), ("vms/b", "sdb", "scsi"),
        ("vms/c", "vda", "virtio"), ("/srv/images/d.img", "hda", "ide")]
    file_disk = disks.parse(xml).findall("devices/disk")[-1]
    assert file_disk.get("type") == "file"
    assert file_disk.find("source").get("file") == "/srv/images/d.img"  # type: ignore[union-attr]
    assert disks.next_disk_id({f"sd{c}" for c in "abcdefghijklmnopqrstuvwxyz"}, "sata") == "sdaa"


def test_removing_takes_only_that_disk() -> None:
    access = disks.rbd_access_of(domain())
    xml = disks.add_disk(domain(), "vms/data", access=access)
    left = disks.remove_disk(xml, "vms/web_sda")
    assert [d["name"] for d in _disks(left)] == ["vms/data"]
    with pytest.raises(NotFound, match="not a disk of the VM"):
        disks.remove_disk(left, "vms/web_sda")


def test_refusals() -> None:
    xml = domain()
    access = disks.rbd_access_of(xml)
    cases: list[tuple[Callable[[], object], type[Exception], str]] = [
        (lambda: disks.add_disk(xml, "vms/web_sda", access=access), AlreadyExists,
         "already a disk"),
        (lambda: disks.add_disk(xml, "vms/x", access=access, disk_id="sda"), AlreadyExists,
         "already has a disk sda"),
        (lambda: disks.add_disk(xml, "vms/x", access=access, disk_id="vdb"), InvalidArgument,
         "does not fit bus scsi"),
        (lambda: disks.add_disk(xml, "vms/x", access=access, disk_id="xda"), InvalidArgument,
         "Invalid disk id"),
        (lambda: disks.add_disk(xml, "vms/x", access=access, bus="floppy"), InvalidArgument,
         "Invalid bus"),
        (lambda: disks.add_disk(xml, "novolume", access=access), InvalidArgument,
         "<pool>/<volume>"),
        (lambda: disks.add_disk(xml, "vms/bad'name", access=access), InvalidArgument,
         "volume name"),
        (lambda: disks.add_disk(xml, "../vms/x", access=access), InvalidArgument, "pool name"),
        (lambda: disks.add_disk(xml, "rel/path.img", disk_type="file"), InvalidArgument,
         "an absolute path"),
        (lambda: disks.add_disk(xml, "/srv/../etc/shadow", disk_type="file"), InvalidArgument,
         "Invalid disk file"),
        (lambda: disks.add_disk(xml, "vms/x", disk_type="iscsi"), InvalidArgument,
         "Invalid disk type"),
        (lambda: disks.add_disk(domain(""), "vms/x"), InvalidArgument, "Ceph monitors"),
        (lambda: disks.add_disk(xml, "vms/x", access=disks.RbdAccess((("a b", ""),))),
         InvalidArgument, "Invalid Ceph monitor"),
        (lambda: disks.add_disk(xml, "vms/x", access=disks.RbdAccess(
            (("mon1", "6789"),), "admin", "not-a-uuid")), InvalidArgument, "secret UUID"),
        (lambda: disks.add_disk("<domain><name>x</name></domain>", "vms/x", access=access),
         InvalidArgument, "no <devices>"),
        (lambda: disks.add_disk("<domain", "vms/x", access=access), InvalidArgument,
         "does not parse"),
        (lambda: disks.remove_disk(xml, "vms/ghost"), NotFound, "not a disk"),
    ]
    for call, error, words in cases:
        with pytest.raises(error, match=words):
            call()


def test_a_vm_without_rbd_disks_has_no_access_to_copy() -> None:
    assert disks.rbd_access_of(domain("")) is None
    no_hosts = RBD_DISK.replace("<host name='10.0.2.1' port='6789'/>", "").replace(
        "<host name='10.0.2.2' port='6789'/>", "")
    assert disks.rbd_access_of(domain(no_hosts)) is None
    given = disks.RbdAccess((("10.0.2.1", "6789"),), "admin", SECRET)
    new = disks.add_disk(domain(""), "vms/first", access=given)
    assert disks.rbd_access_of(new) == given


def test_disk_xml_is_the_one_disk_alone() -> None:
    new = disks.add_disk(domain(), "vms/data", access=disks.rbd_access_of(domain()))
    alone = disks.disk_xml(new, "vms/data")
    assert alone.startswith("<disk ") and "vms/data" in alone and "vms/web_sda" not in alone
    assert "<target dev=\"sdb\"" in alone
    with pytest.raises(NotFound):
        disks.disk_xml(new, "vms/other")
