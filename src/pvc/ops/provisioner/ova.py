"""OVA images (`/provisioner/ova`): an uploaded OVA archive is read as it arrives (a tar
stream: the OVF descriptor first, then the disk images, as the OVF standard orders them),
each disk image is written as it is (its own format, e.g. streamOptimized VMDK) into its
own volume `ova_<name>_<disk id>`, and the OVF is kept. A system template (the OVF's
vCPUs and memory, a serial console) and a profile of type `ova`, both named after the
OVA, are made with it: `provisioner create VM <name>` then deploys it, the images
converted to raw volumes of the VM (the `ova` example script, run for OVA profiles that
name no script). Networks of the OVF are ignored: give the profile a network template.

Nothing half-made stays: a refused or broken upload removes the volumes it wrote.
"""

from __future__ import annotations

import contextlib
import math
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common import names
from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PVCError
from pvc.db.engine import Database
from pvc.db.models import Ova, OvaVolume, Profile, SystemTemplate
from pvc.drivers.storage.base import Storage
from pvc.ops.provisioner.common import limited, object_name, one, write
from pvc.ops.storage import records
from pvc.ops.storage import volumes as volume_ops
from pvc.state.store import Store

WHAT = "OVA"
GiB = 1 << 30
MiB = 1 << 20
MAX_OVF_BYTES = 4 * MiB
CHUNK = 4 * MiB
_NS = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1",
       "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
               "CIM_ResourceAllocationSettingData"}
_UNITS = re.compile(r"^byte\s*\*\s*2\s*\^\s*(\d+)$")
_FORMATS = (("vmdk", "vmdk"), ("qcow2", "qcow2"), ("vhd", "vpc"), ("vdi", "vdi"),
            ("raw", "raw"), (".img", "raw"))


@dataclass(frozen=True)
class OvfDisk:
    disk_id: str  # sda, sdb, ... in the OVF's order
    href: str  # the file in the archive
    capacity: int  # bytes of the virtual disk
    image_format: str  # qemu-img's name of the file's format


@dataclass(frozen=True)
class OvfInfo:
    vcpus: int
    memory_mb: int
    disks: tuple[OvfDisk, ...]


def _attr(el: Any, name: str) -> str:
    return str(el.get(f"{{{_NS['ovf']}}}{name}") or el.get(name) or "")


def _units(text: str) -> int:
    if not text:
        return 1
    found = _UNITS.fullmatch(text.strip())
    if found is None:
        raise InvalidArgument(f"Invalid OVF: unknown allocation units {text!r}")
    return 1 << int(found.group(1))


def _format(href: str, declared: str) -> str:
    for needle, fmt in _FORMATS:
        if needle in declared.lower() or href.lower().endswith(needle):
            return fmt
    raise InvalidArgument(f"Invalid OVF: the disk image {href!r} is of no known format")


def parse_ovf(text: str) -> OvfInfo:
    """The hardware and disks of an OVF descriptor (InvalidArgument if it is not one)."""
    try:
        root = SafeET.fromstring(text)
    except (SafeET.ParseError, DefusedXmlException) as exc:
        raise InvalidArgument(f"Invalid OVF: {exc}") from None
    files = {_attr(f, "id"): _attr(f, "href") for f in root.iterfind(".//ovf:File", _NS)}
    disks: list[OvfDisk] = []
    letters = "abcdefghijklmnopqrstuvwxyz"
    for i, disk in enumerate(root.iterfind(".//ovf:DiskSection/ovf:Disk", _NS)):
        href = files.get(_attr(disk, "fileRef"), "")
        if not href or "/" in href or href.startswith("."):
            raise InvalidArgument(f"Invalid OVF: disk {_attr(disk, 'diskId')!r} names no "
                                  "usable file")
        try:
            capacity = int(_attr(disk, "capacity")) * _units(_attr(disk, "capacityAllocationUnits"))
        except ValueError:
            raise InvalidArgument("Invalid OVF: a disk's capacity is not a number") from None
        if i >= len(letters):
            raise InvalidArgument("Invalid OVF: more than 26 disks")
        disks.append(OvfDisk(f"sd{letters[i]}", href, capacity,
                             _format(href, _attr(disk, "format"))))
    if not disks:
        raise InvalidArgument("Invalid OVF: it has no disks")
    vcpus, memory = 1, 1024
    for item in root.iterfind(".//ovf:VirtualHardwareSection/ovf:Item", _NS):
        kind = item.findtext("rasd:ResourceType", default="", namespaces=_NS).strip()
        quantity = item.findtext("rasd:VirtualQuantity", default="", namespaces=_NS).strip()
        if not quantity.isdigit():
            continue
        if kind == "3":
            vcpus = int(quantity)
        elif kind == "4":
            units = item.findtext("rasd:AllocationUnits", default="byte * 2^20",
                                  namespaces=_NS)
            memory = int(quantity) * _units(units) // MiB
    if not 1 <= vcpus <= 256 or not 16 <= memory <= 16 * 1024 * 1024:
        raise InvalidArgument(f"Invalid OVF: {vcpus} vCPUs and {memory} MB of memory")
    return OvfInfo(vcpus, memory, tuple(disks))


class _ChunkReader:
    """A file object reading an iterator of byte chunks (for tarfile's stream mode),
    refusing more than `limit` bytes."""

    def __init__(self, chunks: Iterable[bytes], limit: int) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""
        self.limit = limit
        self.read_total = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self.read_total += len(chunk)
            if self.read_total > self.limit:
                raise InvalidArgument(f"The upload is larger than its ova_size ({self.limit} "
                                      "bytes)")
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def volume_name(ova: str, disk_id: str) -> str:
    return names.storage_name(f"ova_{ova}_{disk_id}", "OVA volume name")


def _member_chunks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = stream.read(min(CHUNK, left))
        if not chunk:
            raise InvalidArgument("The OVA archive ends inside a disk image")
        left -= len(chunk)
        yield chunk


def _check_free(db: Database, store: Store, pool: str, name: str) -> None:
    object_name(name, "OVA name")
    records.require_pool(store, pool)

    def work(s: Session) -> None:
        for model, what in ((Ova, "OVA"), (SystemTemplate, "system template"),
                            (Profile, "profile")):
            if s.scalars(select(model.id).where(model.name == name)).first() is not None:
                raise AlreadyExists(f"A {what} named {name!r} already exists")

    db.run(work)


def upload(db: Database, store: Store, storage: Storage, pool: str, name: str,
           ova_size: int, data: Iterable[bytes]) -> str:
    """Import the OVA archive whose bytes `data` yields (at most `ova_size` bytes)."""
    if isinstance(ova_size, bool) or not isinstance(ova_size, int) or ova_size <= 0:
        raise InvalidArgument(f"Invalid ova_size {ova_size!r}: the archive's size in bytes")
    _check_free(db, store, pool, name)
    made: list[str] = []
    try:
        info, ovf = _read_archive(store, storage, pool, name, _ChunkReader(data, ova_size),
                                  made)
        _store_rows(db, pool, name, info, ovf)
    except BaseException:
        for volume in made:
            with contextlib.suppress(PVCError):
                volume_ops.remove(store, storage, pool, volume)
        raise
    return (f'Imported OVA "{name}" ({len(info.disks)} disk(s) in pool "{pool}"); its '
            f'profile "{name}" deploys it')


def _read_archive(store: Store, storage: Storage, pool: str, name: str,
                  reader: _ChunkReader, made: list[str]) -> tuple[OvfInfo, str]:
    try:
        archive = tarfile.open(fileobj=reader, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
    except tarfile.TarError as exc:
        raise InvalidArgument(f"The upload is not an OVA (tar) archive: {exc}") from None
    info: OvfInfo | None = None
    ovf = ""
    written: set[str] = set()
    with archive:
        try:
            for member in archive:
                if not member.isfile():
                    continue
                stream = archive.extractfile(member)
                if stream is None:
                    continue
                if info is None:
                    if not member.name.lower().endswith(".ovf"):
                        raise InvalidArgument("The OVA archive does not start with its .ovf "
                                              f"descriptor (it starts with {member.name!r})")
                    if member.size > MAX_OVF_BYTES:
                        raise InvalidArgument("The OVF descriptor is too large")
                    ovf = stream.read().decode("utf-8", errors="replace")
                    info = parse_ovf(ovf)
                    continue
                disk = next((d for d in info.disks if d.href == member.name), None)
                if disk is None:
                    continue  # a manifest, a certificate: not kept
                volume = volume_name(name, disk.disk_id)
                size = max(member.size, MiB)
                volume_ops.add(store, storage, pool, volume, f"{math.ceil(size / MiB)}M",
                               force=True)
                made.append(volume)
                storage.volume_write(pool, volume, _member_chunks(stream, member.size))
                written.add(disk.href)
        except tarfile.TarError as exc:
            raise InvalidArgument(f"The OVA archive is broken: {exc}") from None
    if info is None:
        raise InvalidArgument("The OVA archive holds no .ovf descriptor")
    missing = [d.href for d in info.disks if d.href not in written]
    if missing:
        raise InvalidArgument(f"The OVA archive lacks the disk image(s) {', '.join(missing)}")
    return info, ovf


def _store_rows(db: Database, pool: str, name: str, info: OvfInfo, ovf: str) -> None:
    def work(s: Session) -> None:
        entry = Ova(name=name, ovf=ovf, volumes=[
            OvaVolume(pool=pool, volume_name=volume_name(name, d.disk_id),
                      volume_format=d.image_format, disk_id=d.disk_id,
                      disk_size_gb=max(1, math.ceil(d.capacity / GiB)))
            for d in info.disks])
        s.add(entry)
        s.flush()
        system = SystemTemplate(name=name, vcpu_count=info.vcpus, vram_mb=info.memory_mb,
                                serial=True, vnc=False, node_autostart=False,
                                migration_max_downtime=300, ova=entry.id)
        s.add(system)
        s.flush()
        s.add(Profile(name=name, profile_type="ova", system_template=system.id, ova=entry.id))

    write(db, work, WHAT, name)


def view(o: Ova) -> dict[str, Any]:
    return {"id": o.id, "name": o.name,
            "volumes": [{"disk_id": v.disk_id, "disk_size_gb": str(v.disk_size_gb),
                         "pool": v.pool, "volume_format": v.volume_format,
                         "volume_name": v.volume_name} for v in o.volumes]}


def list_ovas(db: Database, limit: str | None = None) -> list[dict[str, Any]]:
    stmt = limited(select(Ova), Ova.name, limit).order_by(Ova.name)
    return db.run(lambda s: [view(o) for o in s.scalars(stmt)])


def get(db: Database, name: str) -> dict[str, Any]:
    return db.run(lambda s: view(one(s, Ova, name, WHAT)))


def remove(db: Database, store: Store, storage: Storage, name: str) -> str:
    """Remove the OVA, its volumes, and the system template and profile made with it
    (refused while another profile uses that system template)."""
    def work(s: Session) -> list[tuple[str, str]]:
        entry = one(s, Ova, name, WHAT)
        volumes = [(v.pool, v.volume_name) for v in entry.volumes]
        profiles = list(s.scalars(select(Profile).where(Profile.ova == entry.id)))
        systems = list(s.scalars(select(SystemTemplate).where(SystemTemplate.ova == entry.id)))
        others = [p.name for p in s.scalars(select(Profile).where(
            Profile.system_template.in_([t.id for t in systems]), Profile.ova.is_(None)))]
        if others:
            raise Conflict(f"The OVA {name!r}'s system template is used by profile(s) "
                           f"{', '.join(others)}; change them first")
        for p in profiles:
            s.delete(p)
        s.flush()
        for t in systems:
            s.delete(t)
        s.flush()
        s.delete(entry)
        return volumes

    volumes = write(db, work, WHAT, name)
    for pool, volume in volumes:
        with contextlib.suppress(NotFound):
            volume_ops.remove(store, storage, pool, volume)
    return f'Removed OVA "{name}" and its volumes'
