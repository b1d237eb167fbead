"""`POST|DELETE /vm/{vm}/device`: attach or detach one device of a VM, with the device
XML in a form body (as PVC's client sends it). A running VM's change is a task on its node
(202, `{task_id, task_name, run_on}`); a stopped VM's is done at once (200, a message)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pvc.client.http import HttpClient

DEVICE_OK = (200, 202)


class VmDevicesApi:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def vm_device(self, vm: str, xml: str, attach: bool = True) -> dict[str, Any]:
        """The 202 task body, or `{"message": ...}` when the VM is not running."""
        body = self.http.call("POST" if attach else "DELETE",
                              f"/vm/{quote(str(vm), safe='')}/device", form={"xml": xml},
                              ok=DEVICE_OK)
        return body if isinstance(body, dict) else {"message": str(body)}
