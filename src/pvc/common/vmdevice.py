"""One device of a domain, as `/vm/{vm}/device` takes it: an `<interface>` or a `<disk>`
XML fragment, checked, and put into or taken out of a whole domain XML.

A device is known by its key: an interface by its MAC address, a disk by its target
(`vda`). Adding a device the XML already has (same key) changes nothing, so a client that
wrote the XML first (as PVC's does) and then asks for the live attach is served as well.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from pvc.common.errors import InvalidArgument, NotFound

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_MODEL = re.compile(r"^[a-z0-9_-]{1,32}$")
_BRIDGE = re.compile(r"^(?:vmbr|br)([0-9]{1,8}|cluster|storage|upstream)$")
_TARGET = re.compile(r"^(sd|vd|hd)[a-z]{1,2}$")
MAX_DEVICE_XML = 16384


@dataclass(frozen=True)
class Device:
    kind: str  # interface or disk
    key: str  # MAC address or target dev
    vni: str | None  # an interface's network ("100", "cluster", ...)
    element: ET.Element

    def xml(self) -> str:
        return ET.tostring(self.element, encoding="unicode")

    def what(self) -> str:
        return (f"interface {self.key} on network {self.vni}" if self.kind == "interface"
                else f"disk {self.key}")


def parse(xml: str) -> Device:
    if not xml or not xml.strip():
        raise InvalidArgument("The device XML is empty")
    if len(xml) > MAX_DEVICE_XML:
        raise InvalidArgument(f"The device XML is longer than {MAX_DEVICE_XML} characters")
    try:
        el = SafeET.fromstring(xml)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise InvalidArgument(f"The device XML does not parse: {exc}") from exc
    if el.tag == "interface":
        return _interface(el)
    if el.tag == "disk":
        return _disk(el)
    raise InvalidArgument(f"A device is an <interface> or a <disk>, not <{el.tag}>")


def _interface(el: ET.Element) -> Device:
    if el.get("type") != "bridge":
        raise InvalidArgument("Only bridged interfaces (type='bridge') can be attached")
    mac_el, src, model = el.find("mac"), el.find("source"), el.find("model")
    mac = (mac_el.get("address", "") if mac_el is not None else "").lower()
    if not _MAC.fullmatch(mac):
        raise InvalidArgument(f"The interface needs a MAC address (<mac address='..'/>), "
                              f"got {mac!r}")
    bridge = src.get("bridge", "") if src is not None else ""
    found = _BRIDGE.fullmatch(bridge)
    if not found:
        raise InvalidArgument(f"The interface's bridge {bridge!r} is not a PVC network's "
                              "(vmbr<vni>)")
    if model is not None and not _MODEL.fullmatch(model.get("type", "")):
        raise InvalidArgument(f"Invalid NIC model {model.get('type')!r}")
    if mac_el is not None:
        mac_el.set("address", mac)
    return Device("interface", mac, found.group(1), el)


def _disk(el: ET.Element) -> Device:
    target = el.find("target")
    dev = target.get("dev", "") if target is not None else ""
    if not _TARGET.fullmatch(dev):
        raise InvalidArgument(f"The disk needs a target such as <target dev='sdb'/>, got "
                              f"{dev!r}")
    return Device("disk", dev, None, el)


def _key_of(el: ET.Element) -> str | None:
    if el.tag == "interface":
        mac = el.find("mac")
        return (mac.get("address", "") if mac is not None else "").lower()
    if el.tag == "disk":
        target = el.find("target")
        return target.get("dev", "") if target is not None else ""
    return None


def _root(domain_xml: str) -> tuple[ET.Element, ET.Element]:
    try:
        root = SafeET.fromstring(domain_xml)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise InvalidArgument(f"The VM's XML does not parse: {exc}") from exc
    devices = root.find("devices")
    if devices is None:
        raise InvalidArgument("The VM's XML has no <devices>")
    return root, devices


def has(domain_xml: str, device: Device) -> bool:
    _, devices = _root(domain_xml)
    return any(el.tag == device.kind and _key_of(el) == device.key for el in devices)


def add(domain_xml: str, device: Device) -> str:
    """The domain XML with the device after the last of its kind (unchanged if it is
    there already)."""
    if has(domain_xml, device):
        return domain_xml
    root, devices = _root(domain_xml)
    children = list(devices)
    same = [i for i, el in enumerate(children) if el.tag == device.kind]
    devices.insert(same[-1] + 1 if same else len(children), device.element)
    return ET.tostring(root, encoding="unicode")


def remove(domain_xml: str, device: Device) -> str:
    root, devices = _root(domain_xml)
    gone = [el for el in devices if el.tag == device.kind and _key_of(el) == device.key]
    if not gone:
        raise NotFound(f"The VM has no {device.what()}")
    for el in gone:
        devices.remove(el)
    return ET.tostring(root, encoding="unicode")


def current(domain_xml: str, device: Device) -> Device:
    """The device as the domain XML has it (what a detach must name)."""
    _, devices = _root(domain_xml)
    for el in devices:
        if el.tag == device.kind and _key_of(el) == device.key:
            return Device(device.kind, device.key, device.vni, el)
    raise NotFound(f"The VM has no {device.what()}")
