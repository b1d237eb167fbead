"""VM disks on Ceph RBD in the 3-node development cluster: a guest writes a marker to its
RBD disk, live-migrates and reads the same marker back from the disk on the other node
(and keeps writing there); a stopped OSD leaves the pool writable and the OSD list says
it is down; a volume locked by another node stops the VM from starting, with the reason,
until its locks are flushed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import rbd

from pvc.devcluster import demo
from pvc.devcluster.ceph import cluster as cephdev
from pvc.devcluster.ceph.admin import CephAdmin
from tests.system.conftest import DevCluster
from tests.system.vmhelpers import api, console, info, post, running_on, wait_running_on

pytestmark = pytest.mark.system

DISK_LINE = re.compile(r"^pvc-disk (\S+) (\d+)$")
POOL = "vms"


@pytest.fixture
def admin(devcluster_3: DevCluster) -> Iterator[CephAdmin]:
    spec = devcluster_3.spec
    with CephAdmin(cephdev.host_conf(spec), cephdev.host_keyring(spec), timeout=30) as a:
        yield a


def add_volume(dc: DevCluster, name: str, size: str = "64M") -> None:
    with api(dc) as c:
        r = c.post("/storage/ceph/volume", params={"volume": name, "pool": POOL, "size": size})
        assert r.status_code == 200, r.text


def define_rbd_vm(dc: DevCluster, name: str, node: str, volume: str, marker: str = "",
                  start: bool = True) -> str:
    xml = demo.vm_xml(dc.spec, name, disks=[demo.rbd_disk(dc.spec, f"{POOL}/{volume}")],
                      write_marker=marker, disk_probe=True)
    with api(dc) as c:
        r = c.post("/vm", data={"xml": xml}, params={"node": node})
        assert r.status_code == 200, r.text
        if start:
            r = c.post(f"/vm/{name}/state", params={"state": "start", "wait": "true"})
            assert r.status_code == 200, r.text
    return str(info(dc, name)["uuid"])


def disk_reads(dc: DevCluster, name: str) -> list[tuple[str, int]]:
    """(what the guest read from its disk's start, its counter) of each probe line."""
    return [(m.group(1), int(m.group(2))) for line in console(dc, name)
            if (m := DISK_LINE.match(line))]


def read_image(admin: CephAdmin, volume: str, offset: int, length: int) -> bytes:
    ioctx = admin.cluster.open_ioctx(POOL)
    try:
        with rbd.Image(ioctx, volume, read_only=True) as image:
            data: bytes = image.read(offset, length)
            return data
    finally:
        ioctx.close()


def tick_on_disk(admin: CephAdmin, volume: str) -> int:
    """The counter the guest last wrote at 4 KiB into its disk, read through librbd."""
    m = re.match(rb"PVCTICK:(\d+):END", read_image(admin, volume, 4096, 64))
    assert m, read_image(admin, volume, 4096, 64)
    return int(m.group(1))


def test_rbd_disk_marker_survives_live_migration(devcluster_3: DevCluster,
                                                 admin: CephAdmin) -> None:
    add_volume(devcluster_3, "rbdmig_disk0")
    uuid = define_rbd_vm(devcluster_3, "rbdmig", "hv1", "rbdmig_disk0", marker="mark-4711")
    wanted = "PVCMARK:mark-4711:END"
    devcluster_3.wait_for("the guest to write and read its marker", lambda: any(
        text == wanted for text, _ in disk_reads(devcluster_3, "rbdmig")), timeout=90,
        interval=0.5)
    assert "PVC-DISK-WROTE mark-4711" in console(devcluster_3, "rbdmig")
    # the marker is on the RBD image itself, not only in the guest's cache
    assert read_image(admin, "rbdmig_disk0", 0, len(wanted)) == wanted.encode()
    before = disk_reads(devcluster_3, "rbdmig")[-1][1]

    devcluster_3.pvc("vm", "migrate", "rbdmig", "-t", "hv2", "--wait")
    vm = info(devcluster_3, "rbdmig")
    assert (vm["node"], vm["state"]) == ("hv2", "start")
    assert running_on(devcluster_3, uuid) == ["hv2"]
    # read again on hv2 (page cache dropped: from the disk through hv2's librbd)
    after = devcluster_3.wait_for("disk probes on hv2", lambda: [
        (t, n) for t, n in disk_reads(devcluster_3, "rbdmig") if n > before + 2], timeout=60,
        interval=0.5)
    assert all(text == wanted for text, _ in after), after
    # and the guest's writes from hv2 reach the image
    devcluster_3.wait_for("hv2's writes on the image",
                          lambda: tick_on_disk(admin, "rbdmig_disk0") > before + 2,
                          timeout=30, interval=0.5)
    # the only lock on the image is hv2's QEMU (exclusive-lock moved with the VM). librbd
    # hands the lock over on demand, so right after the migration the list can be empty
    # for a moment; it must then show hv2 alone, and never another node
    hv2 = str(devcluster_3.spec.node_address("hv2", "storage").ip)
    seen: list[list[str]] = []

    def hv2_holds_the_lock() -> bool:
        seen.append(rbd_lockers(admin, "rbdmig_disk0"))
        return bool(seen[-1])

    devcluster_3.wait_for("a lock on the image", hv2_holds_the_lock, timeout=30, interval=0.3)
    assert all(addr.split(":")[0] == hv2 for lockers in seen for addr in lockers), seen


def rbd_lockers(admin: CephAdmin, volume: str) -> list[str]:
    ioctx = admin.cluster.open_ioctx(POOL)
    try:
        with rbd.Image(ioctx, volume, read_only=True) as image:
            found = image.list_lockers()
    finally:
        ioctx.close()
    return [addr.replace("v1:", "").replace("v2:", "").split("/")[0]
            for _, _, addr in (found["lockers"] if found else [])]


def test_stopped_osd_leaves_the_pool_writable_and_listed_down(devcluster_3: DevCluster,
                                                              admin: CephAdmin) -> None:
    add_volume(devcluster_3, "degraded_disk0", "16M")
    devcluster_3.dev("service", "hv3", "ceph-osd", "stop")
    try:
        devcluster_3.wait_for("osd.2 down", lambda: admin.osd_states().get(2) == (False, True),
                              timeout=60)
        ioctx = admin.cluster.open_ioctx(POOL)
        try:
            with rbd.Image(ioctx, "degraded_disk0") as image:
                image.write(b"degraded-write", 0)
                image.flush()
        finally:
            ioctx.close()
        assert read_image(admin, "degraded_disk0", 0, 14) == b"degraded-write"

        def osd2() -> dict[str, object]:
            with api(devcluster_3) as c:
                r = c.get("/storage/ceph/osd/2")
                assert r.status_code == 200, r.text
                body = r.json()
            return dict(body[0] if isinstance(body, list) else body)
        devcluster_3.wait_for("the OSD list to show osd.2 down",
                              lambda: osd2()["stats"]["up"] == 0, timeout=30)  # type: ignore[index]
        out = devcluster_3.pvc("storage", "osd", "list").stdout
        row = next(ln for ln in out.splitlines() if re.match(r"^\s*2\s", ln))
        assert "down" in row.lower() or " no " in f" {row.lower()} ", row
        status = devcluster_3.pvc("storage", "status").stdout
        assert "degraded" in status.lower() or "HEALTH_WARN" in status, status
    finally:
        devcluster_3.dev("service", "hv3", "ceph-osd", "start")
    devcluster_3.wait_for("HEALTH_OK again", lambda: admin.health()["status"] == "HEALTH_OK",
                          timeout=120, interval=0.5)


def test_disk_locked_by_another_node_refuses_start(devcluster_3: DevCluster,
                                                   admin: CephAdmin) -> None:
    add_volume(devcluster_3, "locked_disk0", "16M")
    # a client on hv2 takes the volume's lock and goes away without releasing it
    script = ("import rados, rbd; c = rados.Rados(conffile='/etc/ceph/ceph.conf'); "
              "c.connect(timeout=10); io = c.open_ioctx('vms'); "
              "img = rbd.Image(io, 'locked_disk0'); img.lock_exclusive('pvc-test'); "
              "img.close(); io.close(); c.shutdown()")
    devcluster_3.dev("exec", "hv2", "--", "/usr/bin/python3", "-c", script)
    assert rbd_lockers(admin, "locked_disk0")
    define_rbd_vm(devcluster_3, "locked", "hv1", "locked_disk0", start=False)
    r = post(devcluster_3, "/vm/locked/state", state="start", wait="true")
    vm = devcluster_3.wait_for("the VM to fail", lambda: (v := info(devcluster_3, "locked"))
                               ["state"] == "fail" and v, timeout=60)
    assert "locked by node hv2" in vm["failed_reason"], (r.text, vm)
    assert running_on(devcluster_3, vm["uuid"]) == []
    assert rbd_lockers(admin, "locked_disk0")  # nothing was broken behind the operator

    devcluster_3.pvc("vm", "flush-locks", "locked", "--wait")
    assert rbd_lockers(admin, "locked_disk0") == []
    devcluster_3.pvc("vm", "start", "locked", "--wait")
    wait_running_on(devcluster_3, vm["uuid"], ["hv1"])
    devcluster_3.wait_for("the guest to read its disk", lambda: disk_reads(devcluster_3,
                          "locked"), timeout=90, interval=0.5)


def write_image(admin: CephAdmin, volume: str, offset: int, data: bytes) -> None:
    ioctx = admin.cluster.open_ioctx(POOL)
    try:
        with rbd.Image(ioctx, volume) as image:
            image.write(data, offset)
            image.flush()
    finally:
        ioctx.close()


def test_volume_lifecycle_and_snapshot_rollback_through_the_cli(devcluster_3: DevCluster,
                                                                admin: CephAdmin) -> None:
    pvc = devcluster_3.pvc
    pvc("storage", "volume", "add", POOL, "life0", "32M")
    write_image(admin, "life0", 1024, b"original-bytes")
    pvc("storage", "volume", "snapshot", "add", POOL, "life0", "before")
    write_image(admin, "life0", 1024, b"OVERWRITTEN!!!")
    pvc("storage", "volume", "snapshot", "rollback", POOL, "life0", "before", "--yes")
    assert read_image(admin, "life0", 1024, 14) == b"original-bytes"
    pvc("storage", "volume", "resize", POOL, "life0", "64M")
    pvc("storage", "volume", "rename", POOL, "life0", "life1")
    pvc("storage", "volume", "clone", POOL, "life1", "life2")
    assert read_image(admin, "life2", 1024, 14) == b"original-bytes"
    listing = {v["name"]: v for v in json.loads(
        pvc("storage", "volume", "list", "-f", "json").stdout)}
    assert {"life1", "life2"} <= set(listing) and "life0" not in listing
    assert listing["life1"]["stats"]["size"] in ("64M", "64 MiB", "64MiB", 67108864), \
        listing["life1"]
    snaps = json.loads(pvc("storage", "volume", "snapshot", "list", "-f", "json").stdout)
    assert any(s["volume"] == "life1" and s["snapshot"] == "before" for s in snaps), snaps
    pvc("storage", "volume", "remove", POOL, "life2", "--yes")
    assert "life2" not in {v["name"] for v in json.loads(
        pvc("storage", "volume", "list", "-f", "json").stdout)}


BAD = [
    (("storage", "volume", "add", POOL, "bad0", "-5M"), "size"),
    (("storage", "volume", "add", POOL, "bad0", "12Q"), "size"),
    (("storage", "volume", "add", "nopool", "bad0", "8M"), "nopool"),
    (("storage", "volume", "add", POOL, "bad/0", "8M"), "name"),
    (("storage", "volume", "resize", POOL, "keep0", "4M"), "shrink"),
    (("storage", "volume", "add", POOL, "keep0", "8M"), "exists"),
    (("storage", "volume", "remove", POOL, "nosuch", "--yes"), "nosuch"),
    (("storage", "pool", "add", "badpgs", "24"), "power of two"),
    (("storage", "osd", "in", "99"), "99"),
]


def test_bad_storage_input_is_refused_and_changes_nothing(devcluster_3: DevCluster,
                                                          admin: CephAdmin) -> None:
    pvc = devcluster_3.pvc
    pvc("storage", "volume", "add", POOL, "keep0", "8M")

    def snapshot_state() -> tuple[object, ...]:
        ioctx = admin.cluster.open_ioctx(POOL)
        try:
            images = sorted(rbd.RBD().list(ioctx))
        finally:
            ioctx.close()
        pools = sorted(p["pool_name"] for p in admin.command("osd pool ls", detail="detail"))
        listed = sorted(v["name"] for v in json.loads(
            pvc("storage", "volume", "list", "-f", "json").stdout))
        return images, pools, listed
    before = snapshot_state()
    for args, word in BAD:
        res = pvc(*args, check=False)
        assert res.returncode != 0, args
        assert word.lower() in (res.stderr + res.stdout).lower(), (args, res.stderr, res.stdout)
    # removing a pool needs its confirmation: the CLI asks (and stops without a yes) ...
    res = pvc("storage", "pool", "remove", POOL, check=False, timeout=30)
    assert "Aborted" in res.stderr, res
    # ... and the API refuses it without `yes-i-really-mean-it`
    with api(devcluster_3) as c:
        r = c.delete(f"/storage/ceph/pool/{POOL}")
        assert r.status_code == 400 and "yes-i-really-mean-it" in r.text, r.text
    assert snapshot_state() == before


def test_osd_add_and_remove_through_the_node_worker(devcluster_3: DevCluster,
                                                    admin: CephAdmin) -> None:
    """`pvc storage osd add` runs on hv2's pvcworkerd: a new OSD on a file of hv2 joins
    under CRUSH host hv2; `osd remove` waits until it is safe to destroy and purges it."""
    host_file = devcluster_3.spec.node_dir("hv2") / "var/lib/ceph/extra-osd.img"
    with host_file.open("wb") as f:
        f.truncate(3 * 1024**3)
    before = set(admin.osd_states())
    weight = next(n["crush_weight"] for n in admin.command("osd tree")["nodes"]
                  if n.get("id") == 1)
    out = devcluster_3.pvc("storage", "osd", "add", "hv2", "/var/lib/ceph/extra-osd.img",
                           "--weight", str(weight), "--yes", "--wait", timeout=300).stdout
    (new,) = set(admin.osd_states()) - before
    assert admin.osd_states()[new] == (True, True), out
    hosts = {n["name"]: n["children"] for n in admin.command("osd tree")["nodes"]
             if n["type"] == "host"}
    assert new in hosts["hv2"]
    listed = json.loads(devcluster_3.pvc("storage", "osd", "list", "-f", "json").stdout)
    assert str(new) in {str(o["id"]) for o in listed}
    devcluster_3.pvc("storage", "osd", "remove", str(new), "--yes", "--wait", timeout=600)
    assert new not in admin.osd_states()
    devcluster_3.wait_for("the OSD record to go", lambda: str(new) not in {
        str(o["id"]) for o in json.loads(
            devcluster_3.pvc("storage", "osd", "list", "-f", "json").stdout)}, timeout=30)
    devcluster_3.wait_for("HEALTH_OK", lambda: admin.health()["status"] == "HEALTH_OK",
                          timeout=120, interval=0.5)
    host_file.unlink()
