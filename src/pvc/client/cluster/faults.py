"""The cluster fault endpoints of the PVC v1 API (`/faults`, `/faults/{fault_id}`).

`FaultsApi` wraps an `HttpClient` (usually the `ApiClient` of the CLI):
`FaultsApi(client).fault_list()`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pvc.client.http import HttpClient, message_of
from pvc.common.errors import BackendError

DEFAULT_SORT_KEY = "last_reported"


def _path(fault_id: str) -> str:
    return "/faults/" + quote(str(fault_id), safe="")


class FaultsApi:
    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def fault_list(self, fault_id: str | None = None,
                   sort_key: str = DEFAULT_SORT_KEY) -> list[dict[str, Any]]:
        """GET /faults?sort_key=... (as PVC's client sends it), or GET /faults/{id}."""
        if fault_id:
            body = self.client.get(_path(fault_id))
        else:
            body = self.client.get("/faults", {"sort_key": sort_key})
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list):
            raise BackendError("The API answered GET /faults with an unexpected body")
        return [f for f in body if isinstance(f, dict)]

    def fault_ack(self, fault_id: str) -> str:
        """PUT /faults/{fault_id}."""
        return message_of(self.client.put(_path(fault_id)))

    def fault_ack_all(self) -> str:
        """PUT /faults."""
        return message_of(self.client.put("/faults"))

    def fault_delete(self, fault_id: str) -> str:
        """DELETE /faults/{fault_id}."""
        return message_of(self.client.delete(_path(fault_id)))

    def fault_delete_all(self) -> str:
        """DELETE /faults."""
        return message_of(self.client.delete("/faults"))
