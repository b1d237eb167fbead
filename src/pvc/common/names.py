"""Strict patterns for every name that reaches a ZooKeeper path, a file path, a shell
argument, libvirt XML or an nftables rule. Validate before use; never escape after."""

from __future__ import annotations

import ipaddress
import re

from pvc.common.errors import InvalidArgument

# Node names: short hostnames as DNS labels, e.g. hv1, pvc-node-03.
_NODE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
# Generic object names (VMs, pools, volumes, tags, connections...).
_OBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Network interface names as the kernel accepts them, minus the odd characters.
_IFACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")


def node_name(value: str, what: str = "node name") -> str:
    if not isinstance(value, str) or not _NODE.fullmatch(value):
        raise InvalidArgument(
            f"Invalid {what} {value!r}: use 1-32 lowercase letters, digits and '-' "
            "(not at either end)"
        )
    return value


def object_name(value: str, what: str = "name") -> str:
    if not isinstance(value, str) or not _OBJECT.fullmatch(value) or value in (".", ".."):
        raise InvalidArgument(
            f"Invalid {what} {value!r}: use 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


# Ceph pool and RBD image/snapshot names: no '/', '@' or spaces (rbd's separators).
_STORAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def storage_name(value: str, what: str = "name") -> str:
    """A Ceph pool, RBD volume or snapshot name."""
    if not isinstance(value, str) or not _STORAGE.fullmatch(value) or value in (".", ".."):
        raise InvalidArgument(
            f"Invalid {what} {value!r}: use 1-100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def osd_id(value: str | int) -> str:
    """An OSD id: a non-negative integer, as text."""
    text = str(value)
    if not re.fullmatch(r"\d{1,6}", text):
        raise InvalidArgument(f"Invalid OSD id {value!r}: use a non-negative integer")
    return str(int(text))


def interface_name(value: str) -> str:
    if not isinstance(value, str) or not _IFACE.fullmatch(value):
        raise InvalidArgument(f"Invalid network interface name {value!r}")
    return value


def ipv4_interface(value: str) -> ipaddress.IPv4Interface:
    """An address with prefix length, e.g. 10.0.0.1/24."""
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid IPv4 address/prefix {value!r}") from exc
    if not isinstance(iface, ipaddress.IPv4Interface):
        raise InvalidArgument(f"Not an IPv4 address/prefix: {value!r}")
    return iface


def ip_interface(value: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """An IPv4 or IPv6 address with prefix length, e.g. fd00::1/64."""
    try:
        return ipaddress.ip_interface(value)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid address/prefix {value!r}") from exc


def ipv4_address(value: str) -> ipaddress.IPv4Address:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid IPv4 address {value!r}") from exc
    if not isinstance(addr, ipaddress.IPv4Address):
        raise InvalidArgument(f"Not an IPv4 address: {value!r}")
    return addr


def node_id(name: str) -> int:
    """PVC derives a node's id from the digits at the end of its hostname (hv3 -> 3)."""
    m = re.search(r"(\d+)$", name)
    if not m:
        raise InvalidArgument(f"Node name {name!r} does not end in digits; cannot derive its id")
    return int(m.group(1))
