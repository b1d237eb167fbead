"""`POST|DELETE /vm/{vm}/device`: attach or detach one device (an `<interface>` or a
`<disk>` in `xml`) for good: the stored XML changes at once, and a running VM gets it
hot-plugged by a task on its node (202). A VM that is not running answers 200: it has
the device from its next start on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from pvc.api import schemas
from pvc.api.deps import StoreDep
from pvc.api.errors import refusals_as_400
from pvc.api.tasks.router import TASK_ACCEPTED, TasksDep, task_accepted
from pvc.api.vm.router import VmName
from pvc.ops.vm import devices
from pvc.tasks import catalogue

router = APIRouter(prefix="/vm", tags=["vm"])

_ANSWERS: dict[int | str, dict[str, Any]] = {
    **TASK_ACCEPTED, **schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
DeviceXml = Annotated[str, Query(description="The device: one <interface> (type bridge, "
                                             "with a MAC) or <disk> (with a target) element")]


def _answer(tasks: TasksDep, change: devices.Change, task: str, done: str) -> JSONResponse:
    if change.live_node is None:
        return JSONResponse({"message": f'{done} VM "{change.vm.name}" is not running: it has '
                                        "the change from its next start."})
    return task_accepted(tasks.submit(task, [change.vm.uuid, change.device.xml()],
                                      run_on=change.live_node))


@router.post("/{vm}/device", status_code=202, responses=_ANSWERS)
@refusals_as_400
def attach(store: StoreDep, tasks: TasksDep, vm: VmName, xml: DeviceXml) -> JSONResponse:
    """Attach a device to the VM: stored at once, hot-plugged if it runs."""
    change = devices.attach(store, vm, xml)
    return _answer(tasks, change, catalogue.VM_DEVICE_ATTACH,
                   f"Added {change.device.what()}.")


@router.delete("/{vm}/device", status_code=202, responses=_ANSWERS)
@refusals_as_400
def detach(store: StoreDep, tasks: TasksDep, vm: VmName, xml: DeviceXml) -> JSONResponse:
    """Detach a device from the VM: removed from the stored XML, unplugged if it runs."""
    change = devices.detach(store, vm, xml)
    return _answer(tasks, change, catalogue.VM_DEVICE_DETACH,
                   f"Removed {change.device.what()}.")
