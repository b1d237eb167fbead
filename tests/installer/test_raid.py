"""A RAID-1 system volume made through a BMC: sushy-tools' Redfish emulator with its
libvirt driver on a libvirtd of the test's own, whose storage controller lists three
drives. pvcbootstrapd's preparation of a server whose bootstrap.yml names two of them
makes the volume (the emulator makes it a volume of its libvirt pool), finds it again
rather than making a second when it prepares the server again, and gives the installer
the rule that picks it; drives the BMC does not list make nothing.

The emulator's volume is not attached to its server (sushy-tools makes only the pool
volume), so the install onto it is not part of this test: the installed chain is
tests/installer/test_bootstrap.py, on a single drive named by its id.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc.bootstrap import redfish
from pvc.common.errors import InvalidArgument
from tests.installer.support import libvirt_socket, private_libvirtd, started
from tests.ports import free_port

pytestmark = pytest.mark.system

SUSHY = Path(sys.executable).with_name("sushy-emulator")
SYSTEM = "5e0a7c3e-1b5e-4a55-9d0c-3f1c2a3b4c77"
GIB = 2**30
DRIVES = {"d0": 8 * GIB, "d1": 8 * GIB, "d2": 16 * GIB}
SUSHY_CONFIG = """
SUSHY_EMULATOR_LIBVIRT_URI = 'qemu+unix:///system?socket={socket}'
SUSHY_EMULATOR_FEATURE_SET = 'full'
SUSHY_EMULATOR_STATE_DIR = '{state}'
SUSHY_EMULATOR_STORAGE = {{'{uuid}': [{{'Id': '1', 'Name': 'RAID controller',
                                         'Drives': {ids!r}}}]}}
SUSHY_EMULATOR_DRIVES = {{('{uuid}', '1'): {drives!r}}}
SUSHY_EMULATOR_VOLUMES = {{('{uuid}', '1'): []}}
"""
DOMAIN = f"""<domain type='qemu'>
  <name>raid1</name>
  <uuid>{SYSTEM}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <interface type='user'><mac address='52:54:00:5e:c0:77'/><model type='virtio'/>
    </interface>
    <graphics type='vnc' listen='127.0.0.1' autoport='yes'/>
  </devices>
</domain>
"""


@contextlib.contextmanager
def emulated_bmc(work: Path) -> Iterator[tuple[redfish.Redfish, list[str]]]:
    """The server (a defined, powered-off domain), its pool, and its BMC on loopback."""
    if os.geteuid() != 0:
        pytest.skip("a libvirtd of its own needs root: run `sudo ./pvc-dev test`")
    ns = f"pvcraid-{uuid.uuid4().hex[:6]}"
    pool = work / "pool"
    pool.mkdir()
    config = work / "sushy.conf"
    config.write_text(SUSHY_CONFIG.format(
        socket=libvirt_socket(work), state=work / "sushy", uuid=SYSTEM, ids=list(DRIVES),
        drives=[{"Id": i, "Name": f"Bay {n}", "CapacityBytes": size, "Protocol": "SAS"}
                for n, (i, size) in enumerate(DRIVES.items())]))
    (work / "sushy").mkdir()
    (work / "raid1.xml").write_text(DOMAIN)
    port = free_port()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with private_libvirtd(work, ns) as virsh:
            for argv in (["define", str(work / "raid1.xml")],
                         ["pool-define-as", "default", "dir", "--target", str(pool)],
                         ["pool-start", "default"]):
                subprocess.run([*virsh, *argv], check=True, capture_output=True)
            with started([str(SUSHY), "--config", str(config), "-i", "127.0.0.1", "-p",
                          str(port)], work / "sushy.log"), \
                    redfish.Redfish(f"http://127.0.0.1:{port}", "admin", "secret") as bmc:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        bmc.power_state()
                        break
                    except Exception:
                        assert time.monotonic() < deadline, (work / "sushy.log").read_text()
                        time.sleep(0.5)
                try:
                    yield bmc, virsh
                finally:
                    subprocess.run([*virsh, "destroy", "raid1"], capture_output=True,
                                   check=False)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def pool_volumes(virsh: list[str]) -> dict[str, int]:
    """The emulator's libvirt pool: volume name -> capacity in bytes."""
    names = subprocess.run([*virsh, "vol-list", "default", "--details"], check=True,
                           capture_output=True, text=True).stdout.splitlines()[2:]
    found = {}
    for line in names:
        if line.strip():
            name = line.split()[0]
            info = subprocess.run([*virsh, "vol-info", "--bytes", name, "--pool", "default"],
                                  check=True, capture_output=True, text=True).stdout
            found[name] = int(next(x for x in info.splitlines()
                                   if x.startswith("Capacity:")).split()[1])
    return found


def test_two_drive_ids_become_one_raid_volume_made_once(tmp_path: Path) -> None:
    with emulated_bmc(tmp_path) as (bmc, virsh):
        assert pool_volumes(virsh) == {}
        # two drives named by the BMC's ids that it does not list: refused, nothing made
        facts = bmc.facts()
        with pytest.raises(InvalidArgument) as err:
            redfish.raid_volume(bmc, ("d0", "d9"), list(facts.drives))
        assert "system disk 'd9' is not a drive the BMC lists (drives: d0 (8.6 GB)" in \
            err.value.message
        assert pool_volumes(virsh) == {}

        ready = redfish.prepare_install(bmc, {}, {}, ("d0", "d1"))
        assert [(d.id, d.capacity_bytes) for d in ready.facts.drives] == list(DRIVES.items())
        assert ready.volume is not None
        assert ready.volume.capacity_bytes == 8 * GIB
        # the emulator made it: one volume of its pool, listed by the controller
        assert list(pool_volumes(virsh).values()) == [8 * GIB]
        listed = bmc.volumes(ready.volume.controller)
        assert [(v["Id"], v["Name"], v["CapacityBytes"]) for v in listed] == [
            (ready.volume.id, redfish.VOLUME_NAME, 8 * GIB)]
        # the installer is to pick the disk of that size
        assert str(ready.disk) == f"detect::{8 * GIB}B:0"
        assert bmc.power_state() == "On"

        # prepared again (a restarted daemon does): the same volume, no second one
        again = redfish.prepare_install(bmc, {}, {}, ("d0", "d1"))
        assert again.volume == ready.volume
        assert list(pool_volumes(virsh).values()) == [8 * GIB]
