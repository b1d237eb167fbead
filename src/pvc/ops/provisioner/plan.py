"""What one `provisioner create` builds: a profile read with everything it names, in one
database transaction, and the script's arguments (the profile's, then the job's, a key
given twice taking the later value)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from pvc.common.errors import InvalidArgument, InvalidState
from pvc.db.engine import Database
from pvc.db.models import (
    NetworkTemplate,
    Ova,
    Profile,
    Script,
    StorageTemplate,
    SystemTemplate,
)
from pvc.ops.provisioner import network_templates, storage_templates, system_templates
from pvc.ops.provisioner import ova as ova_ops
from pvc.ops.provisioner.common import one
from pvc.ops.provisioner.profiles import ARGUMENT


@dataclass(frozen=True)
class BuildPlan:
    profile: str
    profile_type: str
    system: dict[str, Any]
    script_name: str
    script: str
    mac_template: str | None = None
    vnis: tuple[str, ...] = ()
    disks: tuple[dict[str, Any], ...] = ()
    arguments: dict[str, str] = field(default_factory=dict)
    ova: dict[str, Any] | None = None


def parse_arguments(pairs: Sequence[str], what: str) -> dict[str, str]:
    """`key=value` strings as a mapping (the later of a key given twice wins)."""
    out: dict[str, str] = {}
    for pair in pairs:
        if not pair:
            continue
        found = ARGUMENT.fullmatch(pair)
        if found is None:
            raise InvalidArgument(f"Invalid {what} {pair!r}: use key=value (a key of letters, "
                                  "digits and '_'; a value without '|' or newlines)")
        out[found.group(1)] = found.group(2)
    return out


def _by_id(s: Session, model: Any, ident: int | None) -> Any:
    return None if ident is None else s.get(model, ident)


def load(db: Database, profile: str, script_args: Sequence[str] = ()) -> BuildPlan:
    """The plan of profile `profile` (NotFound if there is none; InvalidState if it lacks
    what a build needs)."""
    runtime = parse_arguments(script_args, "script argument")

    def work(s: Session) -> BuildPlan:
        p = one(s, Profile, profile, "profile")
        system = _by_id(s, SystemTemplate, p.system_template)
        if system is None:
            raise InvalidState(f"The profile {profile!r} names no system template")
        script = _by_id(s, Script, p.script)
        ova = _by_id(s, Ova, p.ova)
        if script is None and p.profile_type != "ova":  # OVA profiles have a default
            raise InvalidState(f"The profile {profile!r} names no script: nothing can "
                               "build its VMs")
        nets = _by_id(s, NetworkTemplate, p.network_template)
        storage = _by_id(s, StorageTemplate, p.storage_template)
        net_view = network_templates.view(nets) if nets is not None else None
        disks = storage_templates.view(storage)["disks"] if storage is not None else []
        return BuildPlan(
            profile=p.name, profile_type=p.profile_type,
            system=system_templates.view(system),
            script_name=script.name if script else "", script=script.script if script else "",
            mac_template=net_view["mac_template"] if net_view else None,
            vnis=tuple(str(n["vni"]) for n in net_view["networks"]) if net_view else (),
            disks=tuple(disks),
            arguments={**parse_arguments((p.arguments or "").split("|"), "profile argument"),
                       **runtime},
            ova={**ova_ops.view(ova), "ovf": ova.ovf} if ova is not None else None)

    return db.run(work)

