"""`ApiClient`: typed helpers for the PVC v1 endpoints, on top of `HttpClient`.

Each helper sends exactly what PVC's own client sends (see the wire rules) and returns
the parsed JSON. Write helpers return the response's `message`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from pvc.client.http import message_of
from pvc.client.vm.api import VmApi
from pvc.common.errors import BackendError

CONFIRM = {"yes-i-really-mean-it": "yes"}


def _seg(value: str) -> str:
    """One path segment, escaped (names are validated by the API, not here)."""
    return quote(str(value), safe="")


class ApiClient(VmApi):
    """The PVC v1 API. `ApiClient(connection, timeout=..., transport=...)`; the VM
    helpers come from `VmApi`."""

    # -- cluster ----------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """GET /status: the cluster status object."""
        body = self.get("/status")
        if not isinstance(body, dict):
            raise BackendError("The API answered GET /status with an unexpected body")
        return body

    def primary_node(self) -> str | None:
        """GET /status/primary_node."""
        body = self.call("GET", "/status/primary_node", ok=(200, 204))
        node = body.get("primary_node") if isinstance(body, dict) else None
        return str(node) if node else None

    def set_maintenance(self, enabled: bool) -> str:
        """POST /status?state=true|false (lower case, as PVC sends it)."""
        return message_of(self.post("/status", {"state": "true" if enabled else "false"}))

    def backup(self) -> Any:
        """GET /backup: the cluster data (the body is a JSON string holding JSON)."""
        body = self.get("/backup")
        if isinstance(body, str):
            try:
                return json.loads(body)
            except json.JSONDecodeError as exc:
                raise BackendError("The API's backup data is not valid JSON") from exc
        return body

    def restore(self, cluster_data: str) -> str:
        """POST /restore with `cluster_data` in a form body."""
        return message_of(self.post("/restore", CONFIRM, form={"cluster_data": cluster_data}))

    def initialize(self, overwrite: bool = False) -> str:
        """POST /initialize?overwrite=True|False&yes-i-really-mean-it=yes."""
        return message_of(self.post("/initialize", {"overwrite": overwrite, **CONFIRM}))

    # -- nodes ------------------------------------------------------------
    def node_list(
        self,
        limit: str | None = None,
        *,
        daemon_state: str | None = None,
        coordinator_state: str | None = None,
        domain_state: str | None = None,
    ) -> list[dict[str, Any]]:
        """GET /node with the optional filters."""
        body = self.get(
            "/node",
            {
                "limit": limit,
                "daemon_state": daemon_state,
                "coordinator_state": coordinator_state,
                "domain_state": domain_state,
            },
        )
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list):
            raise BackendError("The API answered GET /node with an unexpected body")
        return [n for n in body if isinstance(n, dict)]

    def node_info(self, node: str) -> dict[str, Any]:
        """GET /node/{node} (an object or a one-item list)."""
        return self.get_one(f"/node/{_seg(node)}", f"Node {node}")

    def node_coordinator_state(self, node: str, state: str) -> str:
        """POST /node/{node}/coordinator-state?state=primary|secondary."""
        return message_of(self.post(f"/node/{_seg(node)}/coordinator-state", {"state": state}))

    def node_domain_state(self, node: str, state: str, wait: bool | None = None) -> str:
        """POST /node/{node}/domain-state?state=flush|ready[&wait=True|False]."""
        return message_of(
            self.post(f"/node/{_seg(node)}/domain-state", {"state": state, "wait": wait})
        )

    def node_log(self, node: str, lines: int | None = None) -> list[str]:
        """GET /node/{node}/log?lines=N: the last lines of the node daemon's log."""
        body = self.get_one(f"/node/{_seg(node)}/log", f"Node {node}", {"lines": lines})
        data = body.get("data", "")
        if not isinstance(data, str):
            raise BackendError("The API's node log data is not a string")
        return data.splitlines()
