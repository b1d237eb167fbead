"""`pvc vm volume get|add|remove` end to end: the CLI, our client, the API and a real
ZooKeeper. The stored domain XML gains and loses the disk; refusals change nothing and
exit non-zero."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.common import vmxml
from pvc.common import vmxml_disks as disks
from pvc.state import tree
from pvc.state.store import Store
from tests.integration.api.support import TOKEN, client, make_config, standard_cluster
from tests.integration.api.vm.support import domain_xml, uuid_of

SECRET = "0d2c1e4b-6a1f-4f1e-9d3c-2b7a8e5f6c10"
RBD_DISK = (
    "<disk type='network' device='disk'><driver name='qemu' discard='unmap'/>"
    "<source protocol='rbd' name='vms/web1_sda'><host name='10.0.2.1' port='6789'/></source>"
    "<auth username='libvirt'><secret type='ceph' uuid='11111111-2222-4333-8444-555555555555'/>"
    "</auth><target dev='sda' bus='scsi'/></disk>"
)


def pvc(store: Store, tmp_path: Path, *args: str) -> Result:
    conns = tmp_path / "pvc.json"
    conns.write_text(json.dumps({"t": {"host": "testserver", "port": 80, "scheme": "http",
                                       "api_key": TOKEN}}))
    config = make_config(ceph={"secret_uuid": SECRET, "monitor_port": 3300})
    transport = client(store, config=config, headers=None)._transport
    state = CliState(store=conns, transport=transport)
    return CliRunner().invoke(cli, ["-q", "-u", "-c", "t", *args], obj=state)


def seed_volumes(store: Store, pool: str, *volumes: str) -> None:
    """Pool and volume records as the storage ops write them (no Ceph needed here)."""
    txn = (store.txn().create("pool", {"pgs": 8, "tier": "default"}, pool=pool)
           .create("pool.stats", {}, pool=pool).create("pool.volumes", "", pool=pool)
           .create("pool.snapshots", "", pool=pool))
    for volume in volumes:
        stats = {"name": volume, "size": 1024**3, "objects": 0, "order": 22, "format": 2,
                 "features": ["layering"]}
        txn = (txn.create("volume", {"created": time.time()}, pool=pool, volume=volume)
               .create("volume.stats", stats, pool=pool, volume=volume)
               .create("volume.snapshots", "", pool=pool, volume=volume))
    txn.commit()


def _define(store: Store, tmp_path: Path, name: str, disk_xml: str) -> None:
    xml = domain_xml(name).replace("<emulator>/usr/bin/qemu-system-x86_64</emulator>",
                                   f"<emulator>/usr/bin/qemu-system-x86_64</emulator>{disk_xml}")
    path = tmp_path / f"{name}.xml"
    path.write_text(xml)
    r = pvc(store, tmp_path, "vm", "define", str(path), "-t", "hv1")
    assert r.exit_code == 0, r.output


def _stored_disks(store: Store, name: str) -> list[dict[str, str]]:
    return vmxml.parse(store.read("domain.xml", domain=uuid_of(name))).disk_list()


def test_volume_add_get_remove_edit_the_stored_xml(store: Store, tmp_path: Path) -> None:
    standard_cluster(store)
    seed_volumes(store, "vms", "web1_sda", "web1_data", "other")
    _define(store, tmp_path, "web1", RBD_DISK)

    r = pvc(store, tmp_path, "vm", "volume", "add", "web1", "vms/web1_data", "-R")
    assert r.exit_code == 0, r.output
    assert _stored_disks(store, "web1") == [
        {"type": "rbd", "name": "vms/web1_sda", "dev": "sda", "bus": "scsi"},
        {"type": "rbd", "name": "vms/web1_data", "dev": "sdb", "bus": "scsi"}]
    xml = store.read("domain.xml", domain=uuid_of("web1"))
    # the monitors and auth were copied from the VM's own RBD disk, as PVC does
    assert disks.rbd_access_of(xml) == disks.RbdAccess(
        (("10.0.2.1", "6789"),), "libvirt", "11111111-2222-4333-8444-555555555555")
    added = disks.parse(xml).findall("devices/disk")[1]
    assert [h.get("name") for h in added.findall("source/host")] == ["10.0.2.1"]

    r = pvc(store, tmp_path, "vm", "volume", "add", "web1", "/srv/img/boot.img", "-t", "file",
            "-b", "virtio", "-d", "vdc", "-R")
    assert r.exit_code == 0, r.output
    listed = json.loads(pvc(store, tmp_path, "vm", "volume", "get", "web1", "-f", "json").stdout)
    assert [(d["name"], d["dev"]) for d in listed] == [
        ("vms/web1_sda", "sda"), ("vms/web1_data", "sdb"), ("/srv/img/boot.img", "vdc")]
    assert "vms/web1_data" in pvc(store, tmp_path, "vm", "volume", "list", "web1").stdout

    before = tree.read_all(store)
    for args, code, words in (  # exit codes: 2 NotFound (or a usage error), 3 AlreadyExists,
        (("add", "web1", "vms/web1_data"), 3, "already a disk"),  # 5 InvalidArgument
        (("add", "web1", "vms/other", "-d", "sda"), 3, "already has a disk sda"),
        (("add", "web1", "vms/missing"), 2, "not found"),
        (("add", "web1", "vms/bad'name"), 5, "volume name"),
        (("add", "web1", "nopool"), 5, "<pool>/<volume>"),
        (("add", "web1", "vms/other", "-d", "vdb"), 5, "does not fit bus scsi"),
        (("add", "web1", "vms/other", "-b", "floppy"), 2, "floppy"),
        (("add", "ghost", "vms/other"), 2, "ghost"),
        (("remove", "web1", "vms/other"), 2, "not a disk of the VM"),
    ):
        r = pvc(store, tmp_path, "vm", "volume", *args, "-R")
        assert r.exit_code == code, (args, r.output)
        assert words in r.output, (args, r.output)
    assert tree.read_all(store) == before

    r = pvc(store, tmp_path, "vm", "volume", "remove", "web1", "vms/web1_data", "-R")
    assert r.exit_code == 0, r.output
    r = pvc(store, tmp_path, "vm", "volume", "remove", "web1", "/srv/img/boot.img", "-R")
    assert r.exit_code == 0, r.output
    assert _stored_disks(store, "web1") == [
        {"type": "rbd", "name": "vms/web1_sda", "dev": "sda", "bus": "scsi"}]
    # the volume itself stays
    assert store.exists("volume", pool="vms", volume="web1_data")


def test_a_vm_without_rbd_disks_gets_the_clusters_monitors(store: Store,
                                                           tmp_path: Path) -> None:
    standard_cluster(store)
    seed_volumes(store, "vms", "bare_sda")
    _define(store, tmp_path, "bare", "")
    r = pvc(store, tmp_path, "vm", "volume", "add", "bare", "vms/bare_sda", "-b", "virtio", "-R")
    assert r.exit_code == 0, r.output
    xml = store.read("domain.xml", domain=uuid_of("bare"))
    # the coordinators' storage addresses, the monitor port and the secret of pvc.conf
    assert disks.rbd_access_of(xml) == disks.RbdAccess(
        (("10.0.2.1", "3300"), ("10.0.2.2", "3300"), ("10.0.2.3", "3300")), "admin", SECRET)
    assert _stored_disks(store, "bare") == [
        {"type": "rbd", "name": "vms/bare_sda", "dev": "vda", "bus": "virtio"}]
