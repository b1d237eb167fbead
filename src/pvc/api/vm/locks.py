"""`POST /vm/{vm}/locks`: flush the RBD locks of a VM's disks, as a task on its node."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pvc.api import schemas
from pvc.api.deps import StoreDep
from pvc.api.tasks.router import TASK_ACCEPTED, TasksDep, task_accepted
from pvc.api.vm.router import VmName
from pvc.common.errors import Unavailable
from pvc.ops.cluster import status as cluster_ops
from pvc.ops.vm import records as vm_records
from pvc.tasks import catalogue

router = APIRouter(prefix="/vm", tags=["vm"])


@router.post(
    "/{vm}/locks",
    status_code=202,
    responses={**TASK_ACCEPTED, **schemas.AUTH_ERRORS, **schemas.BAD_REQUEST,
               **schemas.NOT_FOUND},
)
def flush_locks(store: StoreDep, tasks: TasksDep, vm: VmName) -> JSONResponse:
    """Break every RBD lock on the VM's disks (a task on the VM's node, else the primary).

    The task fails unless the VM is stopped, disabled, failed or a mirror."""
    rec = vm_records.get_vm(store, vm)
    run_on = rec.node or cluster_ops.primary_node(store)
    if not run_on:
        raise Unavailable(f'VM "{rec.name}" has no node and the cluster has no primary: '
                          "no worker can flush its locks now")
    return task_accepted(tasks.submit(catalogue.VM_FLUSH_LOCKS, [rec.uuid], run_on=run_on))
