"""Adding and removing disks in a libvirt domain XML (`pvc vm volume add|remove`).

An RBD disk is written the way PVC writes it:

    <disk type="network" device="disk">
      <driver name="qemu" discard="unmap"/>
      <source protocol="rbd" name="POOL/VOLUME">
        <host name="MON" port="PORT"/> ...
      </source>
      <auth username="USER"><secret type="ceph" uuid="SECRET"/></auth>
      <target dev="sdb" bus="scsi"/>
    </disk>

The monitors and the auth come from `RbdAccess`: those of an RBD disk the VM already has
(as PVC copies them), or the cluster's (`GET /storage/ceph/client`). A file disk is
`<disk type="file"><driver name="qemu" type="raw"/><source file="PATH"/>`. A new disk's
id is the first free one of its bus's prefix (sd for scsi/sata/usb, vd for virtio, hd
for ide) unless given; it goes after the VM's last disk.
"""

from __future__ import annotations

import re
import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from pvc.common import names
from pvc.common.errors import AlreadyExists, InvalidArgument, NotFound

BUS_PREFIX: Final = {"scsi": "sd", "sata": "sd", "usb": "sd", "virtio": "vd", "ide": "hd"}
BUSES: Final = tuple(BUS_PREFIX)
DISK_TYPES: Final = ("rbd", "file")
_DISK_ID: Final = re.compile(r"^(sd|vd|hd)([a-z]{1,2})$")
_HOST: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
_USER: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PATH: Final = re.compile(r"^/[A-Za-z0-9_./+@:-]{1,4095}$")
_LETTERS: Final = "abcdefghijklmnopqrstuvwxyz"

ET.register_namespace("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")
ET.register_namespace("libosinfo", "http://libosinfo.org/xmlns/libvirt/domain/1.0")


@dataclass(frozen=True)
class RbdAccess:
    """How QEMU reaches Ceph: monitors (host, port; port may be "") and the auth."""

    hosts: tuple[tuple[str, str], ...]
    auth_user: str = ""
    secret_uuid: str = ""

    def checked(self) -> RbdAccess:
        if not self.hosts:
            raise InvalidArgument("No Ceph monitors are known for the new RBD disk")
        for host, port in self.hosts:
            if not _HOST.fullmatch(host) or (port and not port.isdigit()):
                raise InvalidArgument(f"Invalid Ceph monitor {host!r} (port {port!r})")
        if bool(self.auth_user) != bool(self.secret_uuid):
            raise InvalidArgument("Ceph auth needs both a user and a secret UUID")
        if self.auth_user and not _USER.fullmatch(self.auth_user):
            raise InvalidArgument(f"Invalid Ceph user {self.auth_user!r}")
        if self.secret_uuid:
            try:
                uuidlib.UUID(self.secret_uuid)
            except ValueError:
                raise InvalidArgument(f"Invalid secret UUID {self.secret_uuid!r}") from None
        return self


def parse(xml: str) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(xml)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise InvalidArgument(f"The VM's XML does not parse: {exc}") from exc
    if root.tag != "domain":
        raise InvalidArgument(f"The XML's root element is <{root.tag}>, not <domain>")
    return root


def _devices(root: ET.Element) -> ET.Element:
    devices = root.find("devices")
    if devices is None:
        raise InvalidArgument("The VM's XML has no <devices>")
    return devices


def rbd_volume_name(volume: str) -> str:
    """A checked "pool/volume"."""
    pool, sep, name = volume.partition("/")
    if not sep:
        raise InvalidArgument(f"Invalid RBD volume {volume!r}: use <pool>/<volume>")
    names.storage_name(pool, "pool name")
    names.storage_name(name, "volume name")
    return volume


def file_path(path: str) -> str:
    if not _PATH.fullmatch(path) or "/../" in f"{path}/" or "//" in path:
        raise InvalidArgument(f"Invalid disk file {path!r}: an absolute path of letters, "
                              "digits and _ . / + @ : -")
    return path


def source_of(disk: ET.Element) -> tuple[str, str]:
    """(type, name) of a <disk>: ("rbd", "pool/vol"), ("file", path), ("block", dev)..."""
    src = disk.find("source")
    if src is None:
        return disk.get("type", ""), ""
    if src.get("protocol") == "rbd":
        return "rbd", src.get("name", "")
    return disk.get("type", ""), src.get("file") or src.get("dev") or src.get("name") or ""


def _dev_of(disk: ET.Element) -> str:
    target = disk.find("target")
    return target.get("dev", "") if target is not None else ""


def rbd_access_of(xml: str) -> RbdAccess | None:
    """The monitors and auth of the VM's first RBD disk that names monitors."""
    for disk in _devices(parse(xml)).findall("disk"):
        src = disk.find("source")
        if src is None or src.get("protocol") != "rbd":
            continue
        hosts = tuple((h.get("name", ""), h.get("port", "")) for h in src.findall("host"))
        if not hosts:
            continue
        auth, secret = disk.find("auth"), disk.find("auth/secret")
        return RbdAccess(hosts, auth.get("username", "") if auth is not None else "",
                         secret.get("uuid", "") if secret is not None else "")
    return None


def next_disk_id(used: set[str], bus: str) -> str:
    prefix = BUS_PREFIX[bus]
    singles = list(_LETTERS)
    for suffix in singles + [a + b for a in singles for b in singles]:
        if prefix + suffix not in used:
            return prefix + suffix
    raise InvalidArgument(f"The VM has no free {prefix}X disk id left")


def check_disk_id(disk_id: str, bus: str) -> str:
    m = _DISK_ID.fullmatch(disk_id)
    if not m:
        raise InvalidArgument(f"Invalid disk id {disk_id!r}: use sdX, vdX or hdX")
    if m.group(1) != BUS_PREFIX[bus]:
        raise InvalidArgument(f"Disk id {disk_id!r} does not fit bus {bus} "
                              f"(use {BUS_PREFIX[bus]}X)")
    return disk_id


def disk_element(volume: str, disk_type: str, disk_id: str, bus: str,
                 access: RbdAccess | None = None) -> ET.Element:
    disk = ET.Element("disk", {"type": "network" if disk_type == "rbd" else "file",
                               "device": "disk"})
    if disk_type == "rbd":
        if access is None:
            raise InvalidArgument("An RBD disk needs the Ceph monitors")
        access.checked()
        ET.SubElement(disk, "driver", {"name": "qemu", "discard": "unmap"})
        src = ET.SubElement(disk, "source", {"protocol": "rbd", "name": volume})
        for host, port in access.hosts:
            ET.SubElement(src, "host", {"name": host, **({"port": port} if port else {})})
        if access.auth_user:
            auth = ET.SubElement(disk, "auth", {"username": access.auth_user})
            ET.SubElement(auth, "secret", {"type": "ceph", "uuid": access.secret_uuid})
    else:
        ET.SubElement(disk, "driver", {"name": "qemu", "type": "raw"})
        ET.SubElement(disk, "source", {"file": volume})
    ET.SubElement(disk, "target", {"dev": disk_id, "bus": bus})
    return disk


def check_request(volume: str, disk_type: str, bus: str, disk_id: str | None) -> None:
    """Refuse a bad add/remove request before anything is read from the cluster."""
    if disk_type not in DISK_TYPES:
        raise InvalidArgument(f"Invalid disk type {disk_type!r}; one of: rbd, file")
    if bus not in BUS_PREFIX:
        raise InvalidArgument(f"Invalid bus {bus!r}; one of: {', '.join(BUSES)}")
    if disk_type == "rbd":
        rbd_volume_name(volume)
    else:
        file_path(volume)
    if disk_id is not None:
        check_disk_id(disk_id, bus)


def add_disk(xml: str, volume: str, disk_type: str = "rbd", bus: str = "scsi",
             disk_id: str | None = None, access: RbdAccess | None = None) -> str:
    """The XML with a new disk on `volume` ("pool/vol" for rbd, a path for file)."""
    check_request(volume, disk_type, bus, disk_id)
    root = parse(xml)
    devices = _devices(root)
    disks = devices.findall("disk")
    for disk in disks:
        if source_of(disk) == (disk_type, volume):
            raise AlreadyExists(f"Volume {volume} is already a disk of the VM "
                                f"({_dev_of(disk) or 'no target'})")
    used = {_dev_of(d) for d in disks}
    if disk_id is None:
        disk_id = next_disk_id(used, bus)
    elif disk_id in used:
        raise AlreadyExists(f"The VM already has a disk {disk_id}")
    new = disk_element(volume, disk_type, disk_id, bus, access)
    children = list(devices)
    anchors = [i for i, el in enumerate(children) if el.tag == "disk"] or [
        i for i, el in enumerate(children) if el.tag == "emulator"]
    devices.insert(anchors[-1] + 1 if anchors else 0, new)
    return ET.tostring(root, encoding="unicode")


def remove_disk(xml: str, volume: str) -> str:
    """The XML without the disk whose source is `volume` ("pool/vol" or a path)."""
    if volume.startswith("/"):
        file_path(volume)
    else:
        rbd_volume_name(volume)
    root = parse(xml)
    devices = _devices(root)
    gone = [d for d in devices.findall("disk") if source_of(d)[1] == volume]
    if not gone:
        raise NotFound(f"Volume {volume} is not a disk of the VM")
    for disk in gone:
        devices.remove(disk)
    return ET.tostring(root, encoding="unicode")


def disk_xml(xml: str, volume: str) -> str:
    """The `<disk>` element whose source is `volume`, alone (for `/vm/{vm}/device`)."""
    found = [d for d in _devices(parse(xml)).findall("disk") if source_of(d)[1] == volume]
    if not found:
        raise NotFound(f"Volume {volume} is not a disk of the VM")
    return ET.tostring(found[0], encoding="unicode")
