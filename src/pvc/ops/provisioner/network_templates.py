"""Network templates: the networks (VNIs) a profile's VMs are attached to, in order (the
first is eth0), and optionally a MAC template for their interfaces (see `macs`).

A VNI is stored as text, as PVC stores it, and answered so. It need not exist as a
network when it is added: the VM create flow checks that. The same VNI twice in one
template (two interfaces on one network) only with `permit_duplicate`.

A change to a template's networks takes a lock on the template's row, so two additions at
once cannot both slip a duplicate past the check.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common.errors import AlreadyExists, InvalidArgument, NotFound
from pvc.db.engine import Database
from pvc.db.models import NetworkTemplate, TemplateNetwork
from pvc.ops.provisioner.common import limited, object_name, one, write
from pvc.ops.provisioner.macs import check_mac_template

WHAT = "network template"
MAX_VNI = 16777215  # 24 bits, as VXLAN's


def check_vni(value: str | int) -> str:
    """A VNI (1 to 16777215) as the text stored: decimal, without leading zeros."""
    text = str(value)
    if not re.fullmatch(r"[0-9]{1,8}", text) or not 1 <= int(text) <= MAX_VNI:
        raise InvalidArgument(f"Invalid VNI {value!r}: use a number from 1 to {MAX_VNI}")
    return str(int(text))


def _one_line(value: str, what: str) -> str:
    """Refuse a line break (the name patterns' `$` would let a trailing one through)."""
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise InvalidArgument(f"Invalid {what} {value!r}: it holds a line break")
    return value


def net_view(n: TemplateNetwork) -> dict[str, Any]:
    return {"id": n.id, "network_template": n.network_template, "vni": n.vni}


def view(t: NetworkTemplate) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "mac_template": t.mac_template,
            "networks": [net_view(n) for n in t.networks]}


def _locked(s: Session, name: str) -> NetworkTemplate:
    """The template `name`, its row locked until the transaction ends."""
    found = s.scalars(select(NetworkTemplate).where(NetworkTemplate.name == name)
                      .with_for_update()).one_or_none()
    if found is None:
        raise NotFound(f"The {WHAT} {name!r} does not exist")
    return found


def list_templates(db: Database, limit: str | None = None) -> list[dict[str, Any]]:
    stmt = limited(select(NetworkTemplate), NetworkTemplate.name, limit).order_by(
        NetworkTemplate.name)
    return db.run(lambda s: [view(t) for t in s.scalars(stmt)])


def get(db: Database, name: str) -> dict[str, Any]:
    return db.run(lambda s: view(one(s, NetworkTemplate, name, WHAT)))


def add(db: Database, name: str, mac_template: str | None = None) -> None:
    """A new, empty template; an empty `mac_template` is none (PVC's default MACs)."""
    object_name(_one_line(name, f"{WHAT} name"), f"{WHAT} name")
    mac = check_mac_template(mac_template) if mac_template else None
    write(db, lambda s: s.add(NetworkTemplate(name=name, mac_template=mac)), WHAT, name)


def remove(db: Database, name: str) -> None:
    """Remove a template and its networks (refused while a profile names it)."""
    write(db, lambda s: s.delete(one(s, NetworkTemplate, name, WHAT)), WHAT, name)


def list_nets(db: Database, name: str) -> list[dict[str, Any]]:
    """The template's networks in order (an empty list for a template without any)."""
    return db.run(lambda s: [net_view(n) for n in one(s, NetworkTemplate, name, WHAT).networks])


def _find(t: NetworkTemplate, vni: str) -> TemplateNetwork:
    for net in t.networks:
        if net.vni == vni:
            return net
    raise NotFound(f"The {WHAT} {t.name!r} has no network with VNI {vni}")


def get_net(db: Database, name: str, vni: str | int) -> dict[str, Any]:
    """The template's (first) network with VNI `vni`."""
    wanted = check_vni(vni)
    return db.run(lambda s: net_view(_find(one(s, NetworkTemplate, name, WHAT), wanted)))


def add_net(db: Database, name: str, vni: str | int, permit_duplicate: bool = False) -> None:
    """Append VNI `vni` to the template: its next interface."""
    wanted = check_vni(vni)

    def work(s: Session) -> None:
        template = _locked(s, name)
        if not permit_duplicate and any(n.vni == wanted for n in template.networks):
            raise AlreadyExists(f"The {WHAT} {name!r} already has VNI {wanted} (allow a "
                                "second interface on it with permit_duplicate)")
        template.networks.append(TemplateNetwork(vni=wanted))

    write(db, work, WHAT, name)


def remove_net(db: Database, name: str, vni: str | int) -> None:
    """Remove the template's first network with VNI `vni` (later ones move up)."""
    wanted = check_vni(vni)

    def work(s: Session) -> None:
        template = _locked(s, name)
        template.networks.remove(_find(template, wanted))

    write(db, work, WHAT, name)
