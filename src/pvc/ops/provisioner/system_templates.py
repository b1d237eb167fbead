"""System templates: a VM's vCPUs, memory, console, VNC and placement, as the profile's
VMs get them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common import names
from pvc.common import vm as vmdefs
from pvc.common.errors import InvalidArgument
from pvc.db.engine import Database
from pvc.db.models import SystemTemplate
from pvc.ops.provisioner.common import limited, object_name, one, write

WHAT = "system template"
MAX_VCPUS = 256
MAX_VRAM_MB = 4 * 1024 * 1024


@dataclass
class Settings:
    """A template's settings; None: not given (a create takes the default, a change keeps
    what is there)."""

    vcpu_count: int | None = None
    vram_mb: int | None = None
    serial: bool | None = None
    vnc: bool | None = None
    vnc_bind: str | None = None
    node_limit: str | None = None
    node_selector: str | None = None
    node_autostart: bool | None = None
    migration_method: str | None = None
    migration_max_downtime: int | None = None

    def checked(self) -> dict[str, Any]:
        """The given settings, each checked, as column values."""
        out: dict[str, Any] = {}
        if self.vcpu_count is not None:
            if not 1 <= self.vcpu_count <= MAX_VCPUS:
                raise InvalidArgument(f"Invalid vCPU count {self.vcpu_count}: use 1 to "
                                      f"{MAX_VCPUS}")
            out["vcpu_count"] = self.vcpu_count
        if self.vram_mb is not None:
            if not 16 <= self.vram_mb <= MAX_VRAM_MB:
                raise InvalidArgument(f"Invalid memory {self.vram_mb} MB: use 16 to "
                                      f"{MAX_VRAM_MB}")
            out["vram_mb"] = self.vram_mb
        for flag in ("serial", "vnc", "node_autostart"):
            if getattr(self, flag) is not None:
                out[flag] = bool(getattr(self, flag))
        if self.vnc_bind is not None:
            out["vnc_bind"] = _address(self.vnc_bind) if self.vnc_bind else None
        if self.node_limit is not None:
            limit = [n.strip() for n in self.node_limit.split(",") if n.strip()]
            out["node_limit"] = ",".join(names.node_name(n) for n in limit) or None
        if self.node_selector is not None:
            out["node_selector"] = vmdefs.check_selector(self.node_selector or "none")
        if self.migration_method is not None:
            out["migration_method"] = vmdefs.check_migration_method(
                self.migration_method or "none")
        if self.migration_max_downtime is not None:
            out["migration_max_downtime"] = vmdefs.check_max_downtime(
                self.migration_max_downtime)
        return out


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidArgument(f"Invalid VNC bind address {value!r}: use an IP address "
                              "(0.0.0.0 for all)") from None


def view(t: SystemTemplate) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "vcpu_count": t.vcpu_count, "vram_mb": t.vram_mb,
            "serial": t.serial, "vnc": t.vnc, "vnc_bind": t.vnc_bind,
            "node_limit": t.node_limit, "node_selector": t.node_selector,
            "node_autostart": t.node_autostart, "migration_method": t.migration_method,
            "migration_max_downtime": t.migration_max_downtime}


def list_templates(db: Database, limit: str | None = None) -> list[dict[str, Any]]:
    stmt = limited(select(SystemTemplate), SystemTemplate.name, limit).order_by(
        SystemTemplate.name)
    return db.run(lambda s: [view(t) for t in s.scalars(stmt)])


def get(db: Database, name: str) -> dict[str, Any]:
    return db.run(lambda s: view(one(s, SystemTemplate, name, WHAT)))


def add(db: Database, name: str, settings: Settings) -> None:
    object_name(name, f"{WHAT} name")
    for required in ("vcpu_count", "vram_mb", "serial", "vnc"):
        if getattr(settings, required) is None:
            raise InvalidArgument(f"A {WHAT} needs {required}")
    values = {"node_selector": "none", "node_autostart": False, "migration_method": "none",
              "migration_max_downtime": vmdefs.DEFAULT_MAX_DOWNTIME_MS,
              **settings.checked()}
    write(db, lambda s: s.add(SystemTemplate(name=name, **values)), WHAT, name)


def modify(db: Database, name: str, settings: Settings) -> None:
    values = settings.checked()
    if not values:
        raise InvalidArgument("Nothing to change: give at least one setting")

    def work(s: Session) -> None:
        template = one(s, SystemTemplate, name, WHAT)
        for key, value in values.items():
            setattr(template, key, value)

    write(db, work, WHAT, name)


def remove(db: Database, name: str) -> None:
    write(db, lambda s: s.delete(one(s, SystemTemplate, name, WHAT)), WHAT, name)

