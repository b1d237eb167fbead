"""The libvirt XML of a provisioned VM, built from a build's `vm_data` the way PVC writes
its VMs: RBD disks on the cluster's monitors (virtio for vdX, virtio-scsi for sdX, IDE
for hdX), one bridged virtio NIC per network in order, a serial console logged to
`/var/log/libvirt/<vm>.log` when the system template asks for serial (`pvc vm log`),
VNC when it asks for VNC. The node sets the domain type it can run (kvm, or qemu where
there is no KVM). A script's `create()` may return this, change it, or write its own.
"""

from __future__ import annotations

import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from pvc.common import names
from pvc.common.errors import InvalidArgument
from pvc.common.vmxml_disks import BUS_PREFIX, RbdAccess, disk_element

BUS_OF_PREFIX = {"sd": "scsi", "vd": "virtio", "hd": "ide"}
LOG_DIR = "/var/log/libvirt"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def rbd_access(vm_data: Mapping[str, Any]) -> RbdAccess:
    port = str(vm_data.get("ceph_monitor_port") or "")
    hosts = tuple((str(h), port) for h in vm_data.get("ceph_monitor_list") or ())
    secret = str(vm_data.get("ceph_monitor_secret") or "")
    user = str(vm_data.get("ceph_monitor_user") or "") if secret else ""
    return RbdAccess(hosts, user, secret).checked()


def bus_of(disk_id: str) -> str:
    bus = BUS_OF_PREFIX.get(disk_id[:2])
    if bus is None or BUS_PREFIX[bus] != disk_id[:2]:
        raise InvalidArgument(f"Invalid disk id {disk_id!r}: use sdX, vdX or hdX")
    return bus


def domain_xml(vm_name: str, vm_uuid: str, vm_data: Mapping[str, Any],
               kernel: str | None = None, initrd: str | None = None,
               cmdline: str | None = None) -> str:
    """The VM's XML; with `kernel` it boots that kernel (a path on every node) directly,
    else it boots from its first disk."""
    names.object_name(vm_name, "VM name")
    system = vm_data["system_details"]
    dom = ET.Element("domain", type="kvm")
    _sub(dom, "name", vm_name)
    _sub(dom, "uuid", str(uuidlib.UUID(vm_uuid)))
    _sub(dom, "description", f"Provisioned by PVC from profile {vm_data.get('profile', '')}")
    _sub(dom, "memory", str(int(system["vram_mb"])), unit="MiB")
    _sub(dom, "vcpu", str(int(system["vcpu_count"])), placement="static")
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch=str(vm_data.get("system_architecture") or "x86_64"),
         machine="pc")
    if kernel:
        for what, path in (("kernel", kernel), ("initrd", initrd)):
            if path is not None and (not path.startswith("/") or "\0" in path):
                raise InvalidArgument(f"The {what} must be an absolute path, not {path!r}")
        _sub(os_el, "kernel", kernel)
        if initrd:
            _sub(os_el, "initrd", initrd)
        if cmdline:
            _sub(os_el, "cmdline", cmdline)
    else:
        _sub(os_el, "boot", dev="hd")
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "restart")
    devices = _sub(dom, "devices")
    volumes = list(vm_data.get("volumes") or ())
    if volumes:
        access = rbd_access(vm_data)
        for vol in volumes:
            disk_id = str(vol["disk_id"])
            volume = names.storage_name(f"{vm_name}_{disk_id}", "volume name")
            pool = names.storage_name(str(vol["pool"]), "pool name")
            devices.append(disk_element(f"{pool}/{volume}", "rbd", disk_id, bus_of(disk_id),
                                        access))
    if any(str(v["disk_id"]).startswith("sd") for v in volumes):
        _sub(devices, "controller", type="scsi", index="0", model="virtio-scsi")
    for net in vm_data.get("networks") or ():
        iface = _sub(devices, "interface", type="bridge")
        if net.get("mac"):
            _sub(iface, "mac", address=str(net["mac"]))
        _sub(iface, "source", bridge=names.interface_name(str(net["eth_bridge"])))
        _sub(iface, "model", type="virtio")
    if system.get("serial"):
        serial = _sub(devices, "serial", type="pty")
        _sub(serial, "log", file=f"{LOG_DIR}/{vm_name}.log", append="on")
        _sub(serial, "target", port="0")
        console = _sub(devices, "console", type="pty")
        _sub(console, "target", type="serial", port="0")
    if system.get("vnc"):
        _sub(devices, "graphics", type="vnc", port="-1", autoport="yes",
             listen=str(system.get("vnc_bind") or "127.0.0.1"))
        video = _sub(devices, "video")
        _sub(video, "model", type="virtio")
    _sub(devices, "controller", type="usb", model="none")
    _sub(devices, "memballoon", model="virtio")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode") + "\n"
