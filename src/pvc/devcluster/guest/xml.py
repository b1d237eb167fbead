"""Libvirt domain XML of the tiny test guest (see guest.py), and the libvirt settings that
the development nodes need to run and live-migrate it.

The guest is a transient TCG domain (`<domain type='qemu'>`: nested KVM does not work
on the build machines) booted straight from a kernel and initramfs, with one serial port
whose output virtlogd copies into a log file, virtio NICs on client networks if asked,
and no graphics, USB or balloon.
Its CPU is the named model qemu64 on the i440fx machine: with TCG `host-passthrough`
does not exist, and a named model on a versioned machine type is what two identical
QEMUs agree on for live migration.

Live migration between two development nodes (measured with a 128 MiB guest: 0.8-0.9 s,
about 0.2 s of downtime), from the source node's libvirt:

    dom.migrateToURI3("qemu+tcp://<destination cluster address>/system",
                      {libvirt.VIR_MIGRATE_PARAM_URI: "tcp://<destination cluster address>"},
                      libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER)

The domain stays transient on the destination and is gone from the source.
"""

from __future__ import annotations

import ipaddress
import re
import uuid as uuidmod
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pvc.common.errors import InvalidArgument
from pvc.devcluster.guest.image import GuestImage

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
TARGET_RE = re.compile(r"^vd[a-z]$")
RBD_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$")
HOST_RE = re.compile(r"^[A-Za-z0-9.:-]+$")
MARKER_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PROBE_RE = re.compile(r"^((ping|http|get|meta):[A-Za-z0-9.-]{1,100}(:[0-9]{1,5})?"
                      r"|stream:[A-Za-z0-9.-]{1,100})$")
BRIDGE_RE = re.compile(r"^vmbr[0-9]{1,8}$")
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
MACHINE = "pc"  # libvirt expands it to the versioned pc-i440fx-X.Y, which migration keeps
CPU_MODEL = "qemu64"
MIN_MEMORY_MIB = 96  # the Debian cloud kernel stops while decompressing itself in 64 MiB
MAX_MEMORY_MIB = 4096


@dataclass(frozen=True)
class Disk:
    """A virtio disk of the guest.

    kind "file": `source` is an image file; "block": a block device; "rbd": `source` is
    "pool/image" on the Ceph monitors `hosts` ("addr" or "addr:port"), with the libvirt
    secret `secret_uuid` of the Ceph user `auth_user` if both are set.

    libvirt lets RBD disks migrate live as they are; for a file or block device it cannot
    tell that every node sees the same one, so its migration needs VIR_MIGRATE_UNSAFE.
    File and block disks use cache=none (O_DIRECT: not on tmpfs).
    """

    source: str
    target: str = "vda"
    kind: Literal["file", "block", "rbd"] = "file"
    hosts: tuple[str, ...] = ()
    auth_user: str = ""
    secret_uuid: str = ""
    readonly: bool = False


@dataclass(frozen=True)
class Nic:
    """A virtio NIC on a client network's bridge (`vmbr<vni>`)."""

    bridge: str
    mac: str


@dataclass(frozen=True)
class GuestNet:
    """What the guest does on its network (see `pvc.devcluster.guest.image`): serve HTTP on
    `http_ports` besides 80 (and `blob_mib` MiB at /blob), and probe `probes`
    (`ping:HOST`, `http:HOST[:PORT]`, `get:HOST[:PORT]`, `meta:HOST[:PORT]`,
    `stream:HOST`)."""

    http_ports: tuple[int, ...] = ()
    probes: tuple[str, ...] = ()
    probe_ms: int = 200
    blob_mib: int = 0

    def cmdline(self) -> str:
        for probe in self.probes:
            if not PROBE_RE.fullmatch(probe):
                raise InvalidArgument(f"Invalid probe {probe!r}: use ping:HOST, "
                                      "http:HOST[:PORT], get:HOST[:PORT], meta:HOST[:PORT] or "
                                      "stream:HOST")
        if not all(1 <= p <= 65535 for p in self.http_ports):
            raise InvalidArgument("HTTP ports must be 1-65535")
        if not 50 <= self.probe_ms <= 10_000:
            raise InvalidArgument("probe_ms must be 50-10000")
        if not 0 <= self.blob_mib <= 64:
            raise InvalidArgument("blob_mib must be 0-64")
        return (" pvc.net=1" + (f" pvc.http={','.join(map(str, self.http_ports))}"
                                if self.http_ports else "")
                + (f" pvc.blob={self.blob_mib}" if self.blob_mib else "")
                + (f" pvc.probe={','.join(self.probes)} pvc.probe_ms={self.probe_ms}"
                   if self.probes else ""))


def nic_xml(nic: Nic) -> ET.Element:
    """The `<interface>` of a NIC, as PVC writes a bridged one."""
    if not BRIDGE_RE.fullmatch(nic.bridge) or not MAC_RE.fullmatch(nic.mac):
        raise InvalidArgument(f"Invalid NIC {nic}: bridge vmbr<vni>, lowercase MAC")
    el = ET.Element("interface", type="bridge")
    _sub(el, "mac", address=nic.mac)
    _sub(el, "source", bridge=nic.bridge)
    _sub(el, "model", type="virtio")
    return el


def _check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(f"Invalid guest name {name!r}: 1-63 of A-Z a-z 0-9 . _ -, "
                              "starting with a letter or digit")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _disk(devices: ET.Element, disk: Disk) -> None:
    if not TARGET_RE.fullmatch(disk.target):
        raise InvalidArgument(f"Invalid disk target {disk.target!r} (vda..vdz)")
    kind = "network" if disk.kind == "rbd" else disk.kind
    el = _sub(devices, "disk", type=kind, device="disk")
    if disk.kind == "rbd":
        if not RBD_NAME_RE.fullmatch(disk.source):
            raise InvalidArgument(f"Invalid RBD image {disk.source!r} (pool/image)")
        # cache=writeback is safe to migrate on RBD: libvirt knows the storage is shared.
        _sub(el, "driver", name="qemu", type="raw", cache="writeback", discard="unmap")
        if disk.auth_user and disk.secret_uuid:
            auth = _sub(el, "auth", username=disk.auth_user)
            _sub(auth, "secret", type="ceph", uuid=str(uuidmod.UUID(disk.secret_uuid)))
        src = _sub(el, "source", protocol="rbd", name=disk.source)
        for host in disk.hosts:
            addr, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
            if not HOST_RE.fullmatch(addr) or (port and not port.isdigit()):
                raise InvalidArgument(f"Invalid Ceph monitor {host!r}")
            _sub(src, "host", name=addr, **({"port": port} if port else {}))
    else:
        if not disk.source.startswith("/") or "\0" in disk.source:
            raise InvalidArgument(f"Disk source {disk.source!r} must be an absolute path")
        # A local image is migrated safely only without the host's page cache.
        _sub(el, "driver", name="qemu", type="raw", cache="none", io="native")
        _sub(el, "source", **({"file": disk.source} if kind == "file" else
                              {"dev": disk.source}))
    _sub(el, "target", dev=disk.target, bus="virtio")
    if disk.readonly:
        _sub(el, "readonly")


def domain_xml(name: str, uuid: str, memory_mib: int, vcpus: int, image: GuestImage,
               console_log: Path | None = None, disks: Sequence[Disk] = (),
               tick_ms: int = 0, write_marker: str = "", disk_probe: bool = False,
               nics: Sequence[Nic] = (), net: GuestNet | None = None) -> str:
    """The XML of the guest, for `virConnect.createXML` (a transient domain). With
    `tick_ms` the guest prints `pvc-tick N` that often instead of its counter (to see
    how long it stops, e.g. during a live migration). With `write_marker` it writes that
    marker to its first disk at boot; with `disk_probe` it writes its counter to the disk
    and prints what the disk's start holds every second (see `pvc.devcluster.guest.image`)."""
    if not 0 <= tick_ms <= 10_000:
        raise InvalidArgument("tick_ms must be 0 (off) to 10000")
    if write_marker and not MARKER_RE.fullmatch(write_marker):
        raise InvalidArgument(f"Invalid disk marker {write_marker!r}: 1-64 of A-Z a-z 0-9 . _ -")
    _check_name(name)
    try:
        uuid_text = str(uuidmod.UUID(uuid))
    except ValueError:
        raise InvalidArgument(f"Invalid UUID {uuid!r}") from None
    if not MIN_MEMORY_MIB <= memory_mib <= MAX_MEMORY_MIB:
        raise InvalidArgument(f"Guest memory must be {MIN_MEMORY_MIB}-{MAX_MEMORY_MIB} MiB")
    if not 1 <= vcpus <= 16:
        raise InvalidArgument("Guest vCPUs must be 1-16")
    if console_log is not None and not console_log.is_absolute():
        raise InvalidArgument(f"Console log {console_log} must be an absolute path")
    targets = [d.target for d in disks]
    if len(set(targets)) != len(targets):
        raise InvalidArgument(f"Duplicate disk targets in {targets}")

    dom = ET.Element("domain", type="qemu")
    _sub(dom, "name", name)
    _sub(dom, "uuid", uuid_text)
    _sub(dom, "memory", str(memory_mib), unit="MiB")
    _sub(dom, "vcpu", str(vcpus), placement="static")
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine=MACHINE)
    _sub(os_el, "kernel", str(image.kernel))
    _sub(os_el, "initrd", str(image.initrd))
    _sub(os_el, "cmdline", f"{image.cmdline} pvc.name={name}"
                           + (f" pvc.tick_ms={tick_ms}" if tick_ms else "")
                           + (f" pvc.write={write_marker}" if write_marker else "")
                           + (" pvc.disk=1" if disk_probe else "")
                           + (net.cmdline() if net is not None else ""))
    features = _sub(dom, "features")
    _sub(features, "acpi")
    cpu = _sub(dom, "cpu", mode="custom", match="exact", check="none")
    _sub(cpu, "model", CPU_MODEL, fallback="forbid")
    _sub(cpu, "topology", sockets="1", dies="1", cores=str(vcpus), threads="1")
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")
    devices = _sub(dom, "devices")
    for disk in disks:
        _disk(devices, disk)
    for nic in nics:
        devices.append(nic_xml(nic))
    serial = _sub(devices, "serial", type="pty")
    if console_log is not None:
        _sub(serial, "log", file=str(console_log), append="off")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    _sub(devices, "controller", type="usb", model="none")
    _sub(devices, "memballoon", model="none")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode") + "\n"


def qemu_conf_overrides(cluster_address: str | None = None) -> str:
    """Lines to append to a development node's /etc/libvirt/qemu.conf.

    With `cluster_address` (the node's address on the cluster network), incoming
    migrations listen there only and sources are told to connect there, so migration
    traffic stays on the cluster network even without an explicit migration URI.
    """
    lines = [
        "# pvc-dev: settings for the tiny test guests",
        "# QEMU runs as root and file ownership is left alone. The kernel, initrd and disk",
        "# images live in the cluster directory that every node shares: with the default",
        "# (libvirt-qemu plus dynamic_ownership) each node chowns them at start and back at",
        "# stop, under the QEMU of another node. Also, /dev/kvm is root-only here: libvirt",
        "# then finds its cached QEMU capabilities invalid for libvirt-qemu and probes QEMU",
        "# again at every domain start (about 6 s each).",
        'user = "root"',
        'group = "root"',
        "dynamic_ownership = 0",
        "# no LSM confinement: per-domain AppArmor profiles know nothing of the shared paths",
        'security_driver = "none"',
        "# the node namespaces share the host's cgroup tree (if one is mounted at all); two",
        "# libvirtds must not both manage it, e.g. for a guest in migration on both ends",
        "cgroup_controllers = [ ]",
        "# serial console logs (<serial><log file=...>) are written by this node's virtlogd",
        'stdio_handler = "logd"',
    ]
    if cluster_address is not None:
        address = str(ipaddress.ip_address(cluster_address))
        lines += [f'migration_address = "{address}"', f'migration_host = "{address}"']
    return "\n".join([*lines, ""])


def libvirtd_conf_extra() -> str:
    """Lines to append to a development node's /etc/libvirt/libvirtd.conf.

    Nothing beyond what pvc-dev already writes is needed: TCP on the cluster address
    without authentication, and a distinct host_uuid per node (libvirt refuses to migrate
    to a host with its own UUID). Live migration of the test guest worked with those.
    """
    return "# pvc-dev: no further settings needed for live migration of the test guests\n"
