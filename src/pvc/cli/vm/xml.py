"""Editing a VM's domain XML on the client (`vm vcpu|memory|network set/add/remove`):
parsed safely, changed, written back as a string for `PUT /vm/{vm}`."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET

from pvc.common.errors import InvalidArgument, NotFound
from pvc.common.vmxml_disks import parse

# libvirt's namespaces keep their usual prefixes when the XML is written back.
ET.register_namespace("qemu", "http://libvirt.org/schemas/domain/qemu/1.0")
ET.register_namespace("libosinfo", "http://libosinfo.org/xmlns/libvirt/domain/1.0")

_NET = re.compile(r"^(?:\d{1,8}|cluster|storage|upstream)$")
_MAC = re.compile(r"^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$")
_MODEL = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_BRIDGE = re.compile(r"^(?:vmbr|br)(\d+|cluster|storage|upstream)$")


def dump(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


def _child(parent: ET.Element, tag: str) -> ET.Element:
    found = parent.find(tag)
    return found if found is not None else ET.SubElement(parent, tag)


def topology_of(root: ET.Element) -> tuple[int, int, int] | None:
    topo = root.find("cpu/topology")
    if topo is None:
        return None
    try:
        return (int(topo.get("sockets", "1")), int(topo.get("cores", "1")),
                int(topo.get("threads", "1")))
    except ValueError:
        return None


def vcpus_of(root: ET.Element) -> int:
    el = root.find("vcpu")
    try:
        return int((el.text or "").strip()) if el is not None else 0
    except ValueError:
        return 0


def parse_topology(value: str, vcpus: int) -> tuple[int, int, int]:
    parts = value.split(",")
    try:
        s, c, t = (int(p) for p in parts)
    except ValueError:
        raise InvalidArgument(f"Invalid topology {value!r}: use <sockets>,<cores>,<threads>"
                              ) from None
    if min(s, c, t) < 1 or s * c * t != vcpus:
        raise InvalidArgument(f"Topology {s},{c},{t} gives {s * c * t} vCPUs, not {vcpus}")
    return s, c, t


def set_vcpus(xml: str, vcpus: int, topology: str | None = None) -> str:
    """`vcpus` vCPUs; the topology given as S,C,T or else 1 socket of `vcpus` cores."""
    if vcpus < 1:
        raise InvalidArgument("A VM needs at least 1 vCPU")
    s, c, t = parse_topology(topology, vcpus) if topology else (1, vcpus, 1)
    root = parse(xml)
    _child(root, "vcpu").text = str(vcpus)
    topo = _child(_child(root, "cpu"), "topology")
    topo.set("sockets", str(s))
    topo.set("cores", str(c))
    topo.set("threads", str(t))
    return dump(root)


def set_memory(xml: str, mib: int) -> str:
    if mib < 1:
        raise InvalidArgument("A VM needs at least 1 MiB of memory")
    root = parse(xml)
    for el in (_child(root, "memory"), root.find("currentMemory")):
        if el is not None:
            el.text = str(mib)
            el.set("unit", "MiB")
    return dump(root)


def bridge_for(net: str) -> str:
    if not _NET.fullmatch(net):
        raise InvalidArgument(f"Invalid network {net!r}: use a VNI or cluster, storage, upstream")
    return f"vmbr{net}"


def random_mac() -> str:
    return "52:54:00:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


def check_mac(mac: str) -> str:
    mac = mac.lower()
    if not _MAC.fullmatch(mac):
        raise InvalidArgument(f"Invalid MAC address {mac!r}")
    return mac


def interfaces(root: ET.Element) -> list[ET.Element]:
    devices = root.find("devices")
    return devices.findall("interface") if devices is not None else []


def _net_of(iface: ET.Element) -> str:
    src = iface.find("source")
    source = (src.get("bridge") or src.get("dev") or "") if src is not None else ""
    m = _BRIDGE.fullmatch(source)
    return m.group(1) if m else source


def _mac_of(iface: ET.Element) -> str:
    mac = iface.find("mac")
    return (mac.get("address") or "").lower() if mac is not None else ""


def interface(net: str, mac: str | None = None, model: str = "virtio") -> ET.Element:
    """A bridged interface on vmbr<net> (a random MAC unless one is given)."""
    bridge = bridge_for(net)
    mac = check_mac(mac) if mac else random_mac()
    if not _MODEL.fullmatch(model):
        raise InvalidArgument(f"Invalid NIC model {model!r}")
    iface = ET.Element("interface", {"type": "bridge"})
    ET.SubElement(iface, "mac", {"address": mac})
    ET.SubElement(iface, "source", {"bridge": bridge})
    ET.SubElement(iface, "model", {"type": model})
    return iface


def add_network(xml: str, net: str, mac: str | None = None, model: str = "virtio") -> str:
    """A bridged interface on vmbr<net>, after the last interface (or the emulator)."""
    iface = interface(net, mac, model)
    mac = _mac_of(iface)
    root = parse(xml)
    devices = root.find("devices")
    if devices is None:
        raise InvalidArgument("The VM's XML has no <devices>")
    if any(_mac_of(i) == mac for i in interfaces(root)):
        raise InvalidArgument(f"The VM already has an interface with MAC address {mac}")
    children = list(devices)
    anchors = [i for i, el in enumerate(children) if el.tag == "interface"] or [
        i for i, el in enumerate(children) if el.tag == "emulator"]
    devices.insert(anchors[-1] + 1 if anchors else 0, iface)
    return dump(root)


def _on_network(root: ET.Element, net: str, mac: str | None) -> list[ET.Element]:
    bridge_for(net)
    wanted = check_mac(mac) if mac else None
    gone = [i for i in interfaces(root)
            if _net_of(i) == net and (wanted is None or _mac_of(i) == wanted)]
    if not gone:
        raise NotFound(f"The VM has no interface on network {net}"
                       + (f" with MAC address {wanted}" if wanted else ""))
    return gone


def network_interfaces(xml: str, net: str, mac: str | None = None) -> list[str]:
    """The XML of each interface on the network (only the one with `mac`, if given)."""
    return [dump(i) for i in _on_network(parse(xml), net, mac)]


def remove_network(xml: str, net: str, mac: str | None = None) -> str:
    """Without `mac`, every interface on the network; with it, only that interface."""
    root = parse(xml)
    devices = root.find("devices")
    gone = _on_network(root, net, mac)
    if devices is None:
        raise NotFound(f"The VM has no interface on network {net}")
    for iface in gone:
        devices.remove(iface)
    return dump(root)
