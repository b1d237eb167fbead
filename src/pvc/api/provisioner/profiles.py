"""Profiles (`/provisioner/profile`), as PVC's clients send them: names of the templates,
userdata, script and OVA; script arguments as repeated `arg=key=value`; single profiles
answered as a list of one, an empty listing as 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from pvc.api import schemas
from pvc.api.deps import DatabaseDep
from pvc.api.errors import refusals_as_400
from pvc.common.errors import InvalidArgument, NotFound

router = APIRouter(tags=["provisioner / profile"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
Json = dict[str, Any]
ProfileName = Annotated[str, Path(description="The profile's name")]


def _ops() -> Any:
    """The profiles' operations, loaded on first use (with SQLAlchemy)."""
    from pvc.ops.provisioner import profiles

    return profiles


class ChoicesQuery:
    """What a profile names (None: not given; on a change, "" clears a reference)."""

    def __init__(
        self,
        system_template: Annotated[str | None, Query(description="The system template")]
        = None,
        network_template: Annotated[str | None, Query(description="The network template")]
        = None,
        storage_template: Annotated[str | None, Query(description="The storage template")]
        = None,
        userdata: Annotated[str | None, Query(description="The cloud-init userdata")] = None,
        script: Annotated[str | None, Query(description="The install script")] = None,
        arg: Annotated[list[str] | None, Query(description="A script argument key=value "
                                                           "(repeat for several)")] = None,
    ) -> None:
        self.values: dict[str, Any] = {
            "system_template": system_template, "network_template": network_template,
            "storage_template": storage_template, "userdata": userdata, "script": script,
            "arguments": arg}

    def choices(self, ova: str | None = None) -> Any:
        return _ops().Choices(**self.values, ova=ova)


ChoicesDep = Annotated[ChoicesQuery, Depends()]
ProfileType = Annotated[str | None, Query(description="provisioner or ova")]
OvaName = Annotated[str | None, Query(description="The OVA (ova profiles)")]


@router.get("/provisioner/profile", responses=_READ)
def profile_list(db: DatabaseDep,
                 limit: Annotated[str | None, Query(description="A regex on the name")] = None
                 ) -> list[Json]:
    """The profiles, by name."""
    found: list[Json] = _ops().list_profiles(db, limit)
    if not found:
        raise NotFound("No profiles found.")
    return found


def _add(db: Any, name: str | None, profile_type: str | None, query: ChoicesQuery,
         ova: str | None) -> Json:
    if not name:
        raise InvalidArgument("The parameter name is required")
    _ops().add(db, name, profile_type or "provisioner", query.choices(ova))
    return {"message": f"Added new profile '{name}'."}


@router.post("/provisioner/profile", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def profile_add(
    db: DatabaseDep, query: ChoicesDep,
    name: Annotated[str | None, Query(description="The profile's name")] = None,
    profile_type: ProfileType = None, ova: OvaName = None,
) -> Json:
    """Create a profile (a system template and, for provisioner profiles, a script)."""
    return _add(db, name, profile_type, query, ova)


@router.get("/provisioner/profile/{profile}", responses=_READ)
def profile_info(db: DatabaseDep, profile: ProfileName) -> list[Json]:
    return [_ops().get(db, profile)]


@router.post("/provisioner/profile/{profile}", response_model=schemas.Message,
             responses=_READ)
@refusals_as_400
def profile_add_at(db: DatabaseDep, profile: ProfileName, query: ChoicesDep,
                   profile_type: ProfileType = None, ova: OvaName = None) -> Json:
    """Create a profile named in the path."""
    return _add(db, profile, profile_type, query, ova)


@router.put("/provisioner/profile/{profile}", response_model=schemas.Message,
            responses=_READ)
@refusals_as_400
def profile_modify(db: DatabaseDep, profile: ProfileName, query: ChoicesDep) -> Json:
    """Change a profile: what is left out keeps its value, "" clears a template."""
    _ops().modify(db, profile, query.choices())
    return {"message": f"Modified profile '{profile}'."}


@router.delete("/provisioner/profile/{profile}", response_model=schemas.Message,
               responses=_READ)
def profile_remove(db: DatabaseDep, profile: ProfileName) -> Json:
    """Remove a profile (the VMs made from it keep running)."""
    _ops().remove(db, profile)
    return {"message": f"Removed profile '{profile}'."}
