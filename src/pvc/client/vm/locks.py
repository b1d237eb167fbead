"""`POST /vm/{vm}/locks`: flush the RBD locks of a VM (202: a task on the VM's node)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pvc.client.http import HttpClient
from pvc.common.errors import BackendError

TASK_OK = (202,)  # a task-starting call: 200 counts as a failure (wire rules)


class VmLocksApi:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def vm_flush_locks(self, vm: str) -> dict[str, Any]:
        """Start the flush; the `{task_id, task_name, run_on}` of the task."""
        body = self.http.call("POST", f"/vm/{quote(str(vm), safe='')}/locks", ok=TASK_OK)
        if not isinstance(body, dict) or not body.get("task_id"):
            raise BackendError("The API started flushing the locks but did not say which "
                               "task runs it")
        return body
