"""`ApiClient`: typed helpers for the PVC v1 endpoints, on top of `HttpClient`.

Each helper sends exactly what PVC's own client sends (see the wire rules) and returns
the parsed JSON. Write helpers return the response's `message`. The helpers of each
resource live in its package (`cluster`, `node`, `vm`); `storage`, `tasks` and the cluster
faults wrap an `HttpClient` of their own.
"""

from __future__ import annotations

from pvc.client.cluster.api import ClusterApi
from pvc.client.node.api import NodeApi
from pvc.client.vm.api import VmApi


class ApiClient(ClusterApi, NodeApi, VmApi):
    """The PVC v1 API. `ApiClient(connection, timeout=..., transport=...)`."""
