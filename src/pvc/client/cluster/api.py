"""The cluster endpoints of the PVC v1 API: status, maintenance, the primary node,
initialize, backup and restore."""

from __future__ import annotations

import json
from typing import Any

from pvc.client.http import HttpClient, message_of
from pvc.common.errors import BackendError

CONFIRM = {"yes-i-really-mean-it": "yes"}


class ClusterApi(HttpClient):
    """Cluster status, maintenance, the primary node, initialize, backup and restore."""

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
        return message_of(self.post("/status", {"state": "true" if enabled else "false"},
                                    idempotent=True))

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
