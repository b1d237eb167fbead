"""Profiles: what a VM is made from (a system template, optional network and storage
templates, userdata, the install script or an OVA, and the script's arguments)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pvc.common.errors import InvalidArgument
from pvc.db.engine import Database
from pvc.db.models import (
    NetworkTemplate,
    Ova,
    Profile,
    Script,
    StorageTemplate,
    SystemTemplate,
    Userdata,
)
from pvc.ops.provisioner.common import limited, object_name, one, write

WHAT = "profile"
TYPES = ("provisioner", "ova")
ARGUMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]{0,63})=([^|\n\r]{0,1024})$")
# what a profile names: its column, the model, and what an operator calls it
REFERENCES: tuple[tuple[str, Any, str], ...] = (
    ("system_template", SystemTemplate, "system template"),
    ("network_template", NetworkTemplate, "network template"),
    ("storage_template", StorageTemplate, "storage template"),
    ("userdata", Userdata, "userdata"),
    ("script", Script, "script"),
    ("ova", Ova, "OVA"),
)


@dataclass
class Choices:
    """A profile's references by name and its arguments; None: not given (a change keeps
    the value), "" a reference cleared."""

    system_template: str | None = None
    network_template: str | None = None
    storage_template: str | None = None
    userdata: str | None = None
    script: str | None = None
    ova: str | None = None
    arguments: Sequence[str] | None = None


def check_arguments(arguments: Sequence[str]) -> str:
    """`key=value` pairs as stored (joined by `|`)."""
    for arg in arguments:
        if not ARGUMENT.fullmatch(arg):
            raise InvalidArgument(f"Invalid script argument {arg!r}: use key=value (a key of "
                                  "letters, digits and '_'; a value without '|' or newlines)")
    return "|".join(arguments)


def _resolve(s: Session, choices: Choices) -> dict[str, Any]:
    """Column values for the references given (ids), each checked to exist."""
    out: dict[str, Any] = {}
    for column, model, what in REFERENCES:
        name = getattr(choices, column)
        if name is None:
            continue
        if name == "":
            out[column] = None
            continue
        found = s.scalars(select(model.id).where(model.name == name)).one_or_none()
        if found is None:
            raise InvalidArgument(f"The {what} {name!r} does not exist")
        out[column] = found
    if choices.arguments is not None:  # a lone "" clears them
        out["arguments"] = check_arguments([a for a in choices.arguments if a != ""]) or None
    return out


def _check_complete(profile_type: str, values: dict[str, Any]) -> None:
    if values.get("system_template") is None:
        raise InvalidArgument("A profile needs a system template")
    if profile_type == "provisioner" and values.get("script") is None:
        raise InvalidArgument("A provisioner profile needs a script")
    if profile_type == "ova" and values.get("ova") is None:
        raise InvalidArgument("An OVA profile needs an OVA")


def view(s: Session, p: Profile) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for column, model, _ in REFERENCES:
        ref = getattr(p, column)
        names[column] = (s.scalars(select(model.name).where(model.id == ref)).one_or_none()
                         if ref is not None else None)
    return {"id": p.id, "name": p.name, "type": p.profile_type,
            **names, "arguments": p.arguments.split("|") if p.arguments else []}


def list_profiles(db: Database, limit: str | None = None) -> list[dict[str, Any]]:
    stmt = limited(select(Profile), Profile.name, limit).order_by(Profile.name)
    return db.run(lambda s: [view(s, p) for p in s.scalars(stmt)])


def get(db: Database, name: str) -> dict[str, Any]:
    return db.run(lambda s: view(s, one(s, Profile, name, WHAT)))


def add(db: Database, name: str, profile_type: str, choices: Choices) -> None:
    object_name(name, f"{WHAT} name")
    if profile_type not in TYPES:
        raise InvalidArgument(f"Invalid profile type {profile_type!r}: use provisioner or ova")

    def work(s: Session) -> None:
        values = _resolve(s, choices)
        _check_complete(profile_type, values)
        s.add(Profile(name=name, profile_type=profile_type, **values))

    write(db, work, WHAT, name)


def modify(db: Database, name: str, choices: Choices) -> None:
    def work(s: Session) -> None:
        profile = one(s, Profile, name, WHAT)
        values = _resolve(s, choices)
        if not values:
            raise InvalidArgument("Nothing to change: give at least one setting")
        for key, value in values.items():
            setattr(profile, key, value)
        current = {column: getattr(profile, column) for column, _, _ in REFERENCES}
        _check_complete(profile.profile_type, current)

    write(db, work, WHAT, name)


def remove(db: Database, name: str) -> None:
    write(db, lambda s: s.delete(one(s, Profile, name, WHAT)), WHAT, name)


def userdata_of(db: Database, name: str) -> str:
    """The userdata document of profile `name` ("" when it names none)."""
    def work(s: Session) -> str:
        profile = one(s, Profile, name, WHAT)
        if profile.userdata is None:
            return ""
        found = s.scalars(select(Userdata.userdata).where(Userdata.id == profile.userdata))
        return str(found.one_or_none() or "")

    return db.run(work)
