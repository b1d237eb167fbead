"""Storage templates: the disks of a profile's VMs. Each disk is a new RBD volume
`<vm>_<disk_id>` in a pool, either empty (`disk_size_gb`) or a clone of a volume of that
pool (`source_volume`), optionally formatted (`filesystem`, with `filesystem_args`) and
mounted in the VM (`mountpoint`).

The filesystem arguments are passed to mkfs as separate argv items, never through a
shell; each is also limited to letters, digits and `=,._:/+-`, so none holds a space and
the stored text (the arguments joined by single spaces, as PVC stores them) splits back
into exactly the arguments given.

A change to a template's disks takes a lock on the template's row, so two additions at
once cannot both slip a duplicate disk or mountpoint past the checks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common import names
from pvc.common.errors import AlreadyExists, InvalidArgument, NotFound
from pvc.db.engine import Database
from pvc.db.models import StorageTemplate, TemplateDisk
from pvc.ops.provisioner.common import limited, object_name, one, write

WHAT = "storage template"
MAX_DISK_GB = 65536
FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs", "swap", "vfat")
MAX_MOUNTPOINT = 255

_DISK_ID = re.compile(r"(?:sd|vd|hd|xvd)[a-z]")
_FS_ARG = re.compile(r"[A-Za-z0-9=,._:/+-]{1,255}")
_PATH_PART = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*")


def check_disk_id(value: str) -> str:
    if not isinstance(value, str) or not _DISK_ID.fullmatch(value):
        raise InvalidArgument(f"Invalid disk id {value!r}: use sd, vd, hd or xvd and one "
                              "lowercase letter (e.g. sda, vdb)")
    return value


def check_filesystem_arg(value: str) -> str:
    if not isinstance(value, str) or not _FS_ARG.fullmatch(value):
        raise InvalidArgument(f"Invalid filesystem argument {value!r}: use 1-255 letters, "
                              "digits and '=,._:/+-' (one argument per filesystem_arg)")
    return value


def check_mountpoint(value: str) -> str:
    """An absolute, normalized path: no empty parts, none starting with '.' (so no '.'
    or '..'), no trailing '/'."""
    parts = value.split("/")[1:] if isinstance(value, str) else []
    if (not isinstance(value, str) or not value.startswith("/")
            or len(value) > MAX_MOUNTPOINT
            or (value != "/" and not all(_PATH_PART.fullmatch(p) for p in parts))):
        raise InvalidArgument(
            f"Invalid mountpoint {value!r}: use an absolute path like /srv/data, its parts "
            "letters, digits and '._+-', none starting with '.' (so no '.' or '..'), no "
            "'//' or trailing '/'")
    return value


def _one_line(value: str, what: str) -> str:
    """Refuse a line break (the name patterns' `$` would let a trailing one through)."""
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise InvalidArgument(f"Invalid {what} {value!r}: it holds a line break")
    return value


@dataclass
class Disk:
    """One disk as requested (empty strings count as not given)."""

    disk_id: str
    pool: str
    disk_size_gb: int | None = None
    source_volume: str | None = None
    filesystem: str | None = None
    filesystem_args: Sequence[str] = field(default_factory=tuple)
    mountpoint: str | None = None

    def checked(self) -> dict[str, Any]:
        """The disk's column values, each checked."""
        disk_id = check_disk_id(self.disk_id)
        pool = names.storage_name(_one_line(self.pool or "", "pool name"), "pool name")
        size, source = self.disk_size_gb, self.source_volume or None
        if (size is None) == (source is None):
            raise InvalidArgument(f"Disk {disk_id}: give either a disk size (a new volume) "
                                  "or a source volume (a clone), not both or neither")
        if size is not None and not 1 <= size <= MAX_DISK_GB:
            raise InvalidArgument(f"Invalid disk size {size} GB: use 1 to {MAX_DISK_GB}")
        if source is not None:
            names.storage_name(_one_line(source, "source volume name"), "source volume name")
        given = self.filesystem_args
        fs, args = self.filesystem or None, [given] if isinstance(given, str) else list(given)
        mountpoint = self.mountpoint or None
        if fs is not None and fs not in FILESYSTEMS:
            raise InvalidArgument(f"Invalid filesystem {fs!r}: use one of "
                                  + ", ".join(FILESYSTEMS))
        if fs is None and (args or mountpoint):
            raise InvalidArgument(f"Disk {disk_id}: filesystem arguments and a mountpoint "
                                  "need a filesystem")
        if fs == "swap" and mountpoint:
            raise InvalidArgument(f"Disk {disk_id}: a swap disk has no mountpoint")
        return {"disk_id": disk_id, "pool": pool, "disk_size_gb": size,
                "source_volume": source, "filesystem": fs,
                "filesystem_args": " ".join(check_filesystem_arg(a) for a in args) or None,
                "mountpoint": check_mountpoint(mountpoint) if mountpoint else None}


def disk_view(d: TemplateDisk) -> dict[str, Any]:
    return {"id": d.id, "storage_template": d.storage_template, "disk_id": d.disk_id,
            "pool": d.pool, "source_volume": d.source_volume, "disk_size_gb": d.disk_size_gb,
            "filesystem": d.filesystem, "filesystem_args": d.filesystem_args,
            "mountpoint": d.mountpoint}


def view(t: StorageTemplate) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "disks": [disk_view(d) for d in t.disks]}


def _locked(s: Session, name: str) -> StorageTemplate:
    """The template `name`, its row locked until the transaction ends."""
    found = s.scalars(select(StorageTemplate).where(StorageTemplate.name == name)
                      .with_for_update()).one_or_none()
    if found is None:
        raise NotFound(f"The {WHAT} {name!r} does not exist")
    return found


def list_templates(db: Database, limit: str | None = None) -> list[dict[str, Any]]:
    stmt = limited(select(StorageTemplate), StorageTemplate.name, limit).order_by(
        StorageTemplate.name)
    return db.run(lambda s: [view(t) for t in s.scalars(stmt)])


def get(db: Database, name: str) -> dict[str, Any]:
    return db.run(lambda s: view(one(s, StorageTemplate, name, WHAT)))


def add(db: Database, name: str) -> None:
    """A new template without disks."""
    object_name(_one_line(name, f"{WHAT} name"), f"{WHAT} name")
    write(db, lambda s: s.add(StorageTemplate(name=name)), WHAT, name)


def remove(db: Database, name: str) -> None:
    """Remove a template and its disks (refused while a profile names it)."""
    write(db, lambda s: s.delete(one(s, StorageTemplate, name, WHAT)), WHAT, name)


def list_disks(db: Database, name: str) -> list[dict[str, Any]]:
    """The template's disks in the order they were added (empty for a template without)."""
    return db.run(lambda s: [disk_view(d) for d in one(s, StorageTemplate, name, WHAT).disks])


def _find(t: StorageTemplate, disk_id: str) -> TemplateDisk:
    for disk in t.disks:
        if disk.disk_id == disk_id:
            return disk
    raise NotFound(f"The {WHAT} {t.name!r} has no disk {disk_id}")


def get_disk(db: Database, name: str, disk_id: str) -> dict[str, Any]:
    return db.run(lambda s: disk_view(_find(one(s, StorageTemplate, name, WHAT), disk_id)))


def add_disk(db: Database, name: str, disk: Disk) -> None:
    """Add a disk; a disk id or a mountpoint already in the template is refused."""
    values = disk.checked()

    def work(s: Session) -> None:
        template = _locked(s, name)
        for other in template.disks:
            if other.disk_id == values["disk_id"]:
                raise AlreadyExists(f"The {WHAT} {name!r} already has a disk "
                                    f"{values['disk_id']}")
            if values["mountpoint"] and other.mountpoint == values["mountpoint"]:
                raise AlreadyExists(f"The {WHAT} {name!r} already mounts disk "
                                    f"{other.disk_id} at {values['mountpoint']}")
        template.disks.append(TemplateDisk(**values))

    write(db, work, "disk", f"{name}/{values['disk_id']}")


def remove_disk(db: Database, name: str, disk_id: str) -> None:
    def work(s: Session) -> None:
        template = _locked(s, name)
        template.disks.remove(_find(template, disk_id))

    write(db, work, WHAT, name)
