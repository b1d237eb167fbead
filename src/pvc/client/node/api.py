"""The node endpoints of the PVC v1 API: list, info, coordinator and domain state, log."""

from __future__ import annotations

from typing import Any

from pvc.client.http import HttpClient, message_of, segment
from pvc.common.errors import BackendError


class NodeApi(HttpClient):
    """Nodes: list, info, coordinator and domain state, log."""

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
        return self.get_one(f"/node/{segment(node)}", f"Node {node}")

    def node_coordinator_state(self, node: str, state: str) -> str:
        """POST /node/{node}/coordinator-state?state=primary|secondary."""
        return message_of(self.post(f"/node/{segment(node)}/coordinator-state",
                                    {"state": state}, idempotent=True))

    def node_domain_state(self, node: str, state: str, wait: bool | None = None) -> str:
        """POST /node/{node}/domain-state?state=flush|ready[&wait=True|False]."""
        return message_of(
            self.post(f"/node/{segment(node)}/domain-state", {"state": state, "wait": wait},
                      idempotent=True)
        )

    def node_log(self, node: str, lines: int | None = None) -> list[str]:
        """GET /node/{node}/log?lines=N: the last lines of the node daemon's log."""
        body = self.get_one(f"/node/{segment(node)}/log", f"Node {node}", {"lines": lines})
        data = body.get("data", "")
        if not isinstance(data, str):
            raise BackendError("The API's node log data is not a string")
        return data.splitlines()
