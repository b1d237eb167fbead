"""Userdata (`/provisioner/userdata`) and provisioner scripts (`/provisioner/script`), as
PVC's clients send them: the document as the form field `data` (read like every other
parameter from the query or the form, see pvc.api.forms), the rest in the query; single
documents answered as a list of one, an empty listing as 404.

A document may be up to 1 MiB (checked by the operations); the form body limit of
pvc.api.forms is far above that even URL-encoded.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from pvc.api import schemas
from pvc.api.deps import DatabaseDep
from pvc.api.errors import refusals_as_400
from pvc.common.errors import InvalidArgument, NotFound

router = APIRouter()

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
_USERDATA_TAGS: list[str | Enum] = ["provisioner / userdata"]
_SCRIPT_TAGS: list[str | Enum] = ["provisioner / script"]
Json = dict[str, Any]
Limit = Annotated[str | None, Query(description="A regex on the name")]
Name = Annotated[str | None, Query(description="The new document's name")]
UserdataName = Annotated[str, Path(description="The userdata's name")]
ScriptName = Annotated[str, Path(description="The script's name")]
UserdataData = Annotated[str | None, Query(description=(
    "The cloud-init document (a form field): empty, #cloud-config YAML, a #! script, "
    "#include, #cloud-boothook or MIME multipart; at most 1 MiB"))]
ScriptData = Annotated[str | None, Query(description=(
    "The Python source (a form field), defining the class VMBuilderScript; at most 1 MiB"))]


def _userdata() -> Any:
    """The userdata operations, loaded on first use (with SQLAlchemy)."""
    from pvc.ops.provisioner import userdata

    return userdata


def _scripts() -> Any:
    """The script operations, loaded on first use (with SQLAlchemy)."""
    from pvc.ops.provisioner import scripts

    return scripts


def _required(value: str | None, parameter: str) -> str:
    if value is None or (parameter == "name" and not value):
        raise InvalidArgument(f"The parameter {parameter} is required")
    return value


# -- userdata ----------------------------------------------------------------------------------
@router.get("/provisioner/userdata", responses=_READ, tags=_USERDATA_TAGS)
def userdata_list(db: DatabaseDep, limit: Limit = None) -> list[Json]:
    """The userdata documents, by name (the built-in `empty` among them)."""
    found: list[Json] = _userdata().list_userdata(db, limit)
    if not found:
        raise NotFound("No userdata found.")
    return found


def _userdata_add(db: DatabaseDep, name: str | None, data: str | None) -> Json:
    name = _required(name, "name")
    _userdata().add(db, name, _required(data, "data"))
    return {"message": f"Added new userdata '{name}'."}


@router.post("/provisioner/userdata", response_model=schemas.Message, responses=_READ,
             tags=_USERDATA_TAGS)
@refusals_as_400
def userdata_add(db: DatabaseDep, name: Name = None, data: UserdataData = None) -> Json:
    """Store a userdata document (refused when cloud-init could not take it)."""
    return _userdata_add(db, name, data)


@router.get("/provisioner/userdata/{userdata}", responses=_READ, tags=_USERDATA_TAGS)
def userdata_info(db: DatabaseDep, userdata: UserdataName) -> list[Json]:
    return [_userdata().get(db, userdata)]


@router.post("/provisioner/userdata/{userdata}", response_model=schemas.Message,
             responses=_READ, tags=_USERDATA_TAGS)
@refusals_as_400
def userdata_add_at(db: DatabaseDep, userdata: UserdataName,
                    data: UserdataData = None) -> Json:
    """Store a userdata document named in the path."""
    return _userdata_add(db, userdata, data)


@router.put("/provisioner/userdata/{userdata}", response_model=schemas.Message,
            responses=_READ, tags=_USERDATA_TAGS)
@refusals_as_400
def userdata_modify(db: DatabaseDep, userdata: UserdataName,
                    data: UserdataData = None) -> Json:
    """Replace a userdata document (not the built-in `empty`)."""
    _userdata().modify(db, userdata, _required(data, "data"))
    return {"message": f"Modified userdata '{userdata}'."}


@router.delete("/provisioner/userdata/{userdata}", response_model=schemas.Message,
               responses=_READ, tags=_USERDATA_TAGS)
@refusals_as_400
def userdata_remove(db: DatabaseDep, userdata: UserdataName) -> Json:
    """Remove a userdata document (refused while a profile names it, and for `empty`)."""
    _userdata().remove(db, userdata)
    return {"message": f"Removed userdata '{userdata}'."}


# -- scripts -----------------------------------------------------------------------------------
@router.get("/provisioner/script", responses=_READ, tags=_SCRIPT_TAGS)
def script_list(db: DatabaseDep, limit: Limit = None) -> list[Json]:
    """The provisioner scripts, by name."""
    found: list[Json] = _scripts().list_scripts(db, limit)
    if not found:
        raise NotFound("No scripts found.")
    return found


def _script_add(db: DatabaseDep, name: str | None, data: str | None) -> Json:
    name = _required(name, "name")
    _scripts().add(db, name, _required(data, "data"))
    return {"message": f"Added new script '{name}'."}


@router.post("/provisioner/script", response_model=schemas.Message, responses=_READ,
             tags=_SCRIPT_TAGS)
@refusals_as_400
def script_add(db: DatabaseDep, name: Name = None, data: ScriptData = None) -> Json:
    """Store a provisioner script (refused unless it compiles and defines
    VMBuilderScript; it is not run)."""
    return _script_add(db, name, data)


@router.get("/provisioner/script/{script}", responses=_READ, tags=_SCRIPT_TAGS)
def script_info(db: DatabaseDep, script: ScriptName) -> list[Json]:
    return [_scripts().get(db, script)]


@router.post("/provisioner/script/{script}", response_model=schemas.Message,
             responses=_READ, tags=_SCRIPT_TAGS)
@refusals_as_400
def script_add_at(db: DatabaseDep, script: ScriptName, data: ScriptData = None) -> Json:
    """Store a provisioner script named in the path."""
    return _script_add(db, script, data)


@router.put("/provisioner/script/{script}", response_model=schemas.Message,
            responses=_READ, tags=_SCRIPT_TAGS)
@refusals_as_400
def script_modify(db: DatabaseDep, script: ScriptName, data: ScriptData = None) -> Json:
    """Replace a provisioner script's source."""
    _scripts().modify(db, script, _required(data, "data"))
    return {"message": f"Modified script '{script}'."}


@router.delete("/provisioner/script/{script}", response_model=schemas.Message,
               responses=_READ, tags=_SCRIPT_TAGS)
@refusals_as_400
def script_remove(db: DatabaseDep, script: ScriptName) -> Json:
    """Remove a provisioner script (refused while a profile names it)."""
    _scripts().remove(db, script)
    return {"message": f"Removed script '{script}'."}
