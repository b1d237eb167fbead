"""`POST /provisioner/create`: build a VM from a profile (a task on the primary's worker,
`provisioner.create`). What can be refused before the build starts is refused here with a
400 (a bad or taken VM name, an unknown profile, a bad script argument, start without
define); the rest is checked by the task's first stages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from pvc.api import schemas
from pvc.api.deps import DatabaseDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.tasks.router import TASK_ACCEPTED, TasksDep, task_accepted
from pvc.common import names
from pvc.common.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from pvc.ops.cluster import status as cluster_ops
from pvc.tasks import catalogue

router = APIRouter(tags=["provisioner"])

_ANSWERS = {**TASK_ACCEPTED, **schemas.AUTH_ERRORS, **schemas.BAD_REQUEST}


def _ops() -> tuple[Any, Any]:
    from pvc.ops.provisioner import plan, profiles

    return plan, profiles


@router.post("/provisioner/create", status_code=202, responses=_ANSWERS)
@refusals_as_400
def create(
    store: StoreDep,
    db: DatabaseDep,
    tasks: TasksDep,
    name: Annotated[str, Query(description="The new VM's name")],
    profile: Annotated[str, Query(description="The profile to build it from")],
    define_vm: Annotated[bool, Query(description="Define the VM (else only build its "
                                                 "volumes)")] = True,
    start_vm: Annotated[bool, Query(description="Start the VM when it is built")] = True,
    arg: Annotated[list[str] | None, Query(description="A script argument key=value, over "
                                                       "the profile's (repeat for several)")]
    = None,
) -> JSONResponse:
    """Build VM `name` from `profile`: the profile's script runs in stages on the primary
    (setup, create, prepare, install, cleanup); follow it with `GET /tasks/{task_id}`."""
    names.object_name(name, "VM name")
    if start_vm and not define_vm:
        raise InvalidArgument("A VM that is not defined cannot be started: with define_vm "
                              "false, give start_vm false too")
    other = store.read("index.domain_name", default=None, name=name)
    if other:
        raise AlreadyExists(f'A VM named "{name}" already exists (UUID {other})')
    plan, profiles = _ops()
    args = [a for a in arg or [] if a != ""]
    plan.parse_arguments(args, "script argument")
    try:
        profiles.get(db, profile)
    except NotFound as exc:  # PVC answers 400
        raise InvalidArgument(str(exc)) from None
    primary = cluster_ops.primary_node(store)
    if primary is None:
        raise Unavailable("The cluster has no primary node to run the provisioner")
    return task_accepted(tasks.submit(
        catalogue.PROVISIONER_CREATE, [name, profile],
        {"define_vm": define_vm, "start_vm": start_vm, "script_run_args": args},
        run_on=primary))
