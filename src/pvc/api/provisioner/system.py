"""System templates (`/provisioner/template/system`), as PVC's clients send them: every
parameter in the query or the form, booleans as `True`/`False`; single templates answered
as a list of one, an empty listing as 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from pvc.api import schemas
from pvc.api.deps import DatabaseDep
from pvc.api.errors import refusals_as_400
from pvc.common.errors import InvalidArgument, NotFound

router = APIRouter(tags=["provisioner / template"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
Json = dict[str, Any]
Template = Annotated[str, Path(description="The template's name")]
Limit = Annotated[str | None, Query(description="A regex on the name")]


class SettingsQuery:
    """A system template's settings in a request (None: not given)."""

    def __init__(
        self,
        vcpus: Annotated[int | None, Query(description="vCPUs of the VMs")] = None,
        vram: Annotated[int | None, Query(description="Memory of the VMs, MB")] = None,
        serial: Annotated[bool | None, Query(description="A serial console (vm log)")] = None,
        vnc: Annotated[bool | None, Query(description="A VNC console")] = None,
        vnc_bind: Annotated[str | None, Query(description="The VNC listen address")] = None,
        node_limit: Annotated[str | None, Query(description="Comma-separated nodes the VMs "
                                                            "may run on")] = None,
        node_selector: Annotated[str | None, Query(description="mem, memprov, vcpus, load, "
                                                               "vms or none")] = None,
        node_autostart: Annotated[bool | None, Query(description="Start the VMs when their "
                                                                 "node is readied")] = None,
        migration_method: Annotated[str | None, Query(description="live, shutdown or "
                                                                  "none")] = None,
        migration_max_downtime: Annotated[int | None, Query(
            description="Longest pause of a live migration, ms (default 300)")] = None,
    ) -> None:
        self.values = dict(
            vcpu_count=vcpus, vram_mb=vram, serial=serial, vnc=vnc, vnc_bind=vnc_bind,
            node_limit=node_limit, node_selector=node_selector, node_autostart=node_autostart,
            migration_method=migration_method, migration_max_downtime=migration_max_downtime)

    @property
    def settings(self) -> Any:
        return _ops().Settings(**self.values)


def _ops() -> Any:
    """The system templates' operations, loaded on first use (with SQLAlchemy)."""
    from pvc.ops.provisioner import system_templates

    return system_templates


SettingsDep = Annotated[SettingsQuery, Depends()]


@router.get("/provisioner/template/system", responses=_READ)
def system_template_list(db: DatabaseDep, limit: Limit = None) -> list[Json]:
    """The system templates, by name."""
    found: list[Json] = _ops().list_templates(db, limit)
    if not found:
        raise NotFound("No system templates found.")
    return found


def _add(db: DatabaseDep, name: str | None, query: SettingsQuery) -> Json:
    if not name:
        raise InvalidArgument("The parameter name is required")
    _ops().add(db, name, query.settings)
    return {"message": f"Added new system template '{name}'."}


@router.post("/provisioner/template/system", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def system_template_add(
    db: DatabaseDep, query: SettingsDep,
    name: Annotated[str | None, Query(description="The template's name")] = None,
) -> Json:
    """Create a system template (vcpus, vram, serial and vnc are required)."""
    return _add(db, name, query)


@router.get("/provisioner/template/system/{template}", responses=_READ)
def system_template_info(db: DatabaseDep, template: Template) -> list[Json]:
    return [_ops().get(db, template)]


@router.post("/provisioner/template/system/{template}", response_model=schemas.Message,
             responses=_READ)
@refusals_as_400
def system_template_add_at(db: DatabaseDep, template: Template, query: SettingsDep) -> Json:
    """Create a system template named in the path."""
    return _add(db, template, query)


@router.put("/provisioner/template/system/{template}", response_model=schemas.Message,
            responses=_READ)
@refusals_as_400
def system_template_modify(db: DatabaseDep, template: Template, query: SettingsDep) -> Json:
    """Change a system template: what is left out keeps its value."""
    _ops().modify(db, template, query.settings)
    return {"message": f"Modified system template '{template}'."}


@router.delete("/provisioner/template/system/{template}", response_model=schemas.Message,
               responses=_READ)
@refusals_as_400
def system_template_remove(db: DatabaseDep, template: Template) -> Json:
    """Remove a system template (refused while a profile names it)."""
    _ops().remove(db, template)
    return {"message": f"Removed system template '{template}'."}
