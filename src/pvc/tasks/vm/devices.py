"""`vm.device_attach` and `vm.device_detach`: plug a device into, or out of, a running VM
on its node (`POST|DELETE /vm/{vm}/device`; the API has changed the stored XML already).

Both look at the live domain first, so a task delivered twice does its work once. A
detach asks the guest to let go of the device (ACPI unplug) and waits until it has.
"""

from __future__ import annotations

import time
from typing import Any

from pvc.common import vmdevice
from pvc.common.errors import BackendError
from pvc.drivers.hypervisor.vms import LibvirtVms
from pvc.ops.vm.records import get_vm
from pvc.tasks import catalogue, context, progress
from pvc.tasks.registry import register

DETACH_TIMEOUT = 30.0


@register(catalogue.VM_DEVICE_ATTACH)
def device_attach(task: Any, vm: str, xml: str) -> dict[str, Any]:
    device = vmdevice.parse(xml)
    rec = get_vm(context.store(), vm)
    progress.start(task, 2, f'Attaching {device.what()} to VM "{rec.name}"')
    hypervisor = LibvirtVms()
    try:
        if vmdevice.has(hypervisor.live_xml(rec.uuid), device):
            return progress.finish(task, f'VM "{rec.name}" already has {device.what()}.')
        hypervisor.change_device(rec.uuid, device.xml(), attach=True)
        progress.update(task, 2, 2, "Attached")
        if not vmdevice.has(hypervisor.live_xml(rec.uuid), device):
            progress.fail(task, f'libvirt did not attach {device.what()} to VM "{rec.name}"',
                          BackendError)
    finally:
        hypervisor.close()
    return progress.finish(task, f'Attached {device.what()} to VM "{rec.name}" on node '
                                 f"{context.node()}.")


@register(catalogue.VM_DEVICE_DETACH)
def device_detach(task: Any, vm: str, xml: str) -> dict[str, Any]:
    device = vmdevice.parse(xml)
    rec = get_vm(context.store(), vm)
    progress.start(task, 2, f'Detaching {device.what()} from VM "{rec.name}"')
    hypervisor = LibvirtVms()
    try:
        live = hypervisor.live_xml(rec.uuid)
        if not vmdevice.has(live, device):
            return progress.finish(task, f'VM "{rec.name}" has no {device.what()} (any more).')
        hypervisor.change_device(rec.uuid, vmdevice.current(live, device).xml(), attach=False)
        progress.update(task, 1, 2, "Waiting for the guest to release the device")
        deadline = time.monotonic() + DETACH_TIMEOUT
        while vmdevice.has(hypervisor.live_xml(rec.uuid), device):
            if time.monotonic() > deadline:
                progress.fail(task, f'The guest of VM "{rec.name}" did not release '
                                    f"{device.what()} within {DETACH_TIMEOUT:.0f} s",
                              BackendError)
            time.sleep(0.25)
    finally:
        hypervisor.close()
    return progress.finish(task, f'Detached {device.what()} from VM "{rec.name}" on node '
                                 f"{context.node()}.")
