"""The demo VM that `pvc-dev up` defines and starts (through the API, as an operator
would): the tiny guest, whose serial console shows a boot marker and a counter."""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from pvc.common.errors import BackendError
from pvc.devcluster import configs
from pvc.devcluster.guest import image as guest
from pvc.devcluster.guest import xml as guest_xml
from pvc.devcluster.layout import ClusterSpec

DEMO = "demo"
BOOT_MARKER = "PVC-GUEST-BOOTED"
COUNTER = "pvc-counter "


def image(spec: ClusterSpec) -> guest.GuestImage:
    """The guest's kernel and initrd, where every node of the cluster sees them."""
    return guest.build_guest(spec.state_dir / "guest")


def rbd_disk(spec: ClusterSpec, volume: str, target: str = "vda") -> guest_xml.Disk:
    """A virtio disk on the RBD volume "pool/name" of the cluster's Ceph, as PVC writes
    it: the monitors' storage addresses and the libvirt secret of client.admin."""
    hosts = tuple(str(spec.node_address(c, "storage").ip) for c in spec.coordinator_names)
    return guest_xml.Disk(volume, target, kind="rbd", hosts=hosts, auth_user="admin",
                          secret_uuid=configs.ceph_secret_uuid(spec))


def vm_xml(spec: ClusterSpec, name: str, memory_mib: int = 128, vcpus: int = 1,
           uuid: str | None = None, tick_ms: int = 0,
           disks: Sequence[guest_xml.Disk] = (), write_marker: str = "",
           disk_probe: bool = False, nics: Sequence[guest_xml.Nic] = (),
           net: guest_xml.GuestNet | None = None) -> str:
    return guest_xml.domain_xml(name, uuid or str(uuidlib.uuid4()), memory_mib, vcpus,
                                image(spec), console_log=Path(f"/var/log/libvirt/{name}.log"),
                                tick_ms=tick_ms, disks=disks, write_marker=write_marker,
                                disk_probe=disk_probe, nics=nics, net=net)


def _last_count(console: str) -> str | None:
    """The last `pvc-counter N` line of a console (the guest prints one every second once
    it has booted), or None."""
    for line in reversed(console.splitlines()):
        if line.startswith(COUNTER):
            return line
    return None


def ensure(spec: ClusterSpec, say: Callable[[str], None], timeout: float = 60,
           console_lines: int = 50) -> None:
    """Define and start the demo VM unless it exists; wait until its guest runs: its boot
    marker is on the console or, on a guest that has run for a while (the marker has
    scrolled away), its counter moves on between two looks."""
    with httpx.Client(base_url=spec.api_url(), headers={"X-Api-Key": spec.api_key},
                      timeout=30) as api:
        r = api.get(f"/vm/{DEMO}")
        if r.status_code == 404:
            say("Building the tiny guest and defining the demo VM")
            r = api.post("/vm", data={"xml": vm_xml(spec, DEMO)},
                         params={"node": spec.node_names[0]})
            if r.status_code != 200:
                raise BackendError(f"Could not define the demo VM: {r.text}")
        r = api.post(f"/vm/{DEMO}/state", params={"state": "start"})
        if r.status_code != 200:
            raise BackendError(f"Could not start the demo VM: {r.text}")
        deadline = time.monotonic() + timeout
        first_count: str | None = None
        while time.monotonic() < deadline:
            r = api.get(f"/vm/{DEMO}/console", params={"lines": console_lines})
            console = r.json().get("data", "") if r.status_code == 200 else ""
            count = _last_count(console)
            if BOOT_MARKER in console or (count is not None and first_count is not None
                                          and count != first_count):
                say("The demo VM is running")
                return
            first_count = first_count or count
            time.sleep(0.5)
    raise BackendError(f"The demo VM did not boot within {timeout:.0f} s")
