"""libvirt domain XML as PVC reads it: parsed safely (no entities, no external
references), checked, and summarised into the fields the API reports.

Pure logic: used by the ops layer (define/modify validation), the API (VM information)
and the node daemon (serial log path)."""

from __future__ import annotations

import re
import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from pvc.common import names
from pvc.common.errors import InvalidArgument

_UNITS_TO_KIB = {
    "b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024,
    "m": 1024, "mib": 1024, "mb": 1000 * 1000 / 1024, "g": 1024 ** 2, "gib": 1024 ** 2,
    "gb": 1000 ** 3 / 1024, "t": 1024 ** 3, "tib": 1024 ** 3, "tb": 1000 ** 4 / 1024,
}
_BRIDGE_VNI = re.compile(r"^(?:vmbr|br)(\d+|cluster|storage|upstream)$")


@dataclass(frozen=True)
class Disk:
    type: str
    name: str
    dev: str
    bus: str


@dataclass(frozen=True)
class Nic:
    type: str
    source: str
    mac: str
    model: str
    vni: str


@dataclass(frozen=True)
class DomainSpec:
    uuid: str
    name: str
    description: str
    memory_mib: int
    vcpus: int
    topology: str  # sockets/cores/threads, as PVC shows it
    domain_type: str
    arch: str
    machine: str
    emulator: str
    features: list[str] = field(default_factory=list)
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)
    controllers: list[dict[str, str]] = field(default_factory=list)
    serial_log: str = ""
    rbd_volumes: list[str] = field(default_factory=list)

    def networks(self) -> list[dict[str, str]]:
        return [{"type": n.type, "source": n.source, "mac": n.mac, "model": n.model,
                 "vni": n.vni} for n in self.nics]

    def disk_list(self) -> list[dict[str, str]]:
        return [{"type": d.type, "name": d.name, "dev": d.dev, "bus": d.bus} for d in self.disks]

    def summary(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid, "name": self.name, "description": self.description,
            "memory": self.memory_mib, "vcpu": self.vcpus, "vcpu_topology": self.topology,
            "type": self.domain_type, "arch": self.arch, "machine": self.machine,
            "emulator": self.emulator, "features": self.features, "disks": self.disk_list(),
            "networks": self.networks(), "controllers": self.controllers,
        }


def _text(root: ET.Element, path: str, default: str = "") -> str:
    el = root.find(path)
    return (el.text or "").strip() if el is not None and el.text else default


def _memory_mib(root: ET.Element) -> int:
    el = root.find("memory")
    if el is None or not (el.text or "").strip():
        raise InvalidArgument("The domain XML has no <memory>")
    unit = (el.get("unit") or "KiB").lower()
    if unit not in _UNITS_TO_KIB:
        raise InvalidArgument(f"The domain XML's memory unit {el.get('unit')!r} is unknown")
    try:
        kib = float((el.text or "").strip()) * _UNITS_TO_KIB[unit]
    except ValueError:
        raise InvalidArgument(f"The domain XML's memory {el.text!r} is not a number") from None
    mib = int(kib // 1024)
    if mib < 1:
        raise InvalidArgument("The domain XML's memory must be at least 1 MiB")
    return mib


def _vcpus(root: ET.Element) -> int:
    text = _text(root, "vcpu")
    if not text:
        raise InvalidArgument("The domain XML has no <vcpu>")
    try:
        count = int(text)
    except ValueError:
        raise InvalidArgument(f"The domain XML's vcpu {text!r} is not a number") from None
    if count < 1:
        raise InvalidArgument("The domain XML's vcpu count must be at least 1")
    return count


def _disk(el: ET.Element) -> Disk:
    src = el.find("source")
    name = ""
    if src is not None:
        name = src.get("name") or src.get("file") or src.get("dev") or ""
    target = el.find("target")
    return Disk(
        type=("rbd" if src is not None and src.get("protocol") == "rbd" else el.get("type", "")),
        name=name,
        dev=target.get("dev", "") if target is not None else "",
        bus=target.get("bus", "") if target is not None else "",
    )


def _nic(el: ET.Element) -> Nic:
    kind = el.get("type", "")
    src = el.find("source")
    source = ""
    if src is not None:
        source = src.get("bridge") or src.get("dev") or src.get("network") or ""
    vni = source
    if kind == "bridge":
        m = _BRIDGE_VNI.match(source)
        vni = m.group(1) if m else source
    elif kind == "direct":
        vni = f"macvtap:{source}"
    elif kind == "hostdev":
        vni = f"hostdev:{source}"
    mac = el.find("mac")
    model = el.find("model")
    return Nic(kind, source, mac.get("address", "") if mac is not None else "",
               model.get("type", "") if model is not None else "", vni)


def parse(xml: str) -> DomainSpec:
    """Parse and check a domain XML; every problem is an InvalidArgument naming it."""
    if not xml or not xml.strip():
        raise InvalidArgument("The domain XML is empty")
    try:
        root = SafeET.fromstring(xml)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise InvalidArgument(f"The domain XML does not parse: {exc}") from exc
    if root.tag != "domain":
        raise InvalidArgument(f"The XML's root element is <{root.tag}>, not <domain>")
    name = names.object_name(_text(root, "name"), "VM name")
    raw_uuid = _text(root, "uuid")
    if not raw_uuid:
        raise InvalidArgument("The domain XML has no <uuid>")
    try:
        uuid = str(uuidlib.UUID(raw_uuid))
    except ValueError:
        raise InvalidArgument(f"The domain XML's uuid {raw_uuid!r} is not a UUID") from None
    devices = root.find("devices")
    disks = [_disk(d) for d in devices.findall("disk")] if devices is not None else []
    nics = [_nic(n) for n in devices.findall("interface")] if devices is not None else []
    controllers = ([{"type": c.get("type", ""), "model": c.get("model", "")}
                    for c in devices.findall("controller")] if devices is not None else [])
    topo = root.find("cpu/topology")
    topology = (f"{topo.get('sockets', '1')}/{topo.get('cores', '1')}/{topo.get('threads', '1')}"
                if topo is not None else "")
    os_type = root.find("os/type")
    serial_log = ""
    if devices is not None:
        for serial in devices.findall("serial"):
            log = serial.find("log")
            if log is not None and log.get("file"):
                serial_log = log.get("file", "")
                break
    features = root.find("features")
    return DomainSpec(
        uuid=uuid,
        name=name,
        description=_text(root, "description"),
        memory_mib=_memory_mib(root),
        vcpus=_vcpus(root),
        topology=topology,
        domain_type=root.get("type", ""),
        arch=os_type.get("arch", "") if os_type is not None else "",
        machine=os_type.get("machine", "") if os_type is not None else "",
        emulator=_text(root, "devices/emulator"),
        features=[f.tag for f in features] if features is not None else [],
        disks=disks,
        nics=nics,
        controllers=controllers,
        serial_log=serial_log,
        rbd_volumes=[d.name for d in disks if d.type == "rbd" and d.name],
    )


def rename(xml: str, new_name: str) -> str:
    """The same XML with another <name>."""
    names.object_name(new_name, "VM name")
    root = SafeET.fromstring(xml)
    el = root.find("name")
    if el is None:
        raise InvalidArgument("The domain XML has no <name>")
    el.text = new_name
    return ET.tostring(root, encoding="unicode")


def with_domain_type(xml: str, domain_type: str) -> str:
    """The same XML with `<domain type=...>` set (kvm or qemu)."""
    root = SafeET.fromstring(xml)
    if root.get("type") == domain_type:
        return xml
    root.set("type", domain_type)
    return ET.tostring(root, encoding="unicode")


def with_rbd_sources(xml: str, renames: dict[str, str]) -> str:
    """The same XML with RBD disk sources renamed ("pool/old" -> "pool/new")."""
    root = SafeET.fromstring(xml)
    for src in root.iterfind("devices/disk/source"):
        name = src.get("name")
        if src.get("protocol") == "rbd" and name in renames:
            src.set("name", renames[name])
    return ET.tostring(root, encoding="unicode")
