"""Network and storage templates, and all templates at once, of the PVC v1 API, sent as
PVC's own client sends them: every parameter in the query string, booleans as
`True`/`False`, lists as repeated keys, None left out. Template listings answer 404 when
nothing matches (NotFound here); a template's networks or disks are a list, maybe empty.

`TemplateApi(client).network_template_list()`, where `client` is an `HttpClient`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pvc.client.http import HttpClient, Params, message_of, segment
from pvc.client.provisioner.api import listed
from pvc.common.errors import BackendError

ALL = "/provisioner/template"
NETWORK = "/provisioner/template/network"
STORAGE = "/provisioner/template/storage"
KINDS = ("system-templates", "network-templates", "storage-templates")


class TemplateApi:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def template_list(self, limit: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """GET /provisioner/template?limit=REGEX: every kind of template, each a list."""
        body = self.http.get(ALL, {"limit": limit})
        if not isinstance(body, dict):
            raise BackendError("The API answered the template list with an unexpected body")
        return {kind: listed(body.get(kind, []), kind.removesuffix("s").replace("-", " "))
                for kind in KINDS}

    # -- network templates --------------------------------------------------
    def network_template_list(self, limit: str | None = None) -> list[dict[str, Any]]:
        """GET /provisioner/template/network?limit=REGEX; 404 when none match."""
        return listed(self.http.get(NETWORK, {"limit": limit}), "network template")

    def network_template_info(self, name: str) -> dict[str, Any]:
        return self.http.get_one(f"{NETWORK}/{segment(name)}", f"Network template {name}")

    def network_template_add(self, name: str, mac_template: str | None = None) -> str:
        """POST /provisioner/template/network?name=...[&mac_template=...]."""
        return message_of(self.http.post(NETWORK, {"name": name,
                                                   "mac_template": mac_template}))

    def network_template_remove(self, name: str) -> str:
        return message_of(self.http.delete(f"{NETWORK}/{segment(name)}"))

    def network_template_nets(self, name: str) -> list[dict[str, Any]]:
        """The template's networks in order; empty when it has none."""
        return listed(self.http.get(f"{NETWORK}/{segment(name)}/net"), "network")

    def network_template_net_add(self, name: str, vni: int | str,
                                 permit_duplicate: bool = False) -> str:
        """POST /provisioner/template/network/{name}/net/{vni}[?permit_duplicate=True]."""
        params: Params = {"permit_duplicate": True if permit_duplicate else None}
        return message_of(self.http.post(f"{NETWORK}/{segment(name)}/net/{segment(vni)}",
                                         params))

    def network_template_net_remove(self, name: str, vni: int | str) -> str:
        return message_of(self.http.delete(f"{NETWORK}/{segment(name)}/net/{segment(vni)}"))

    # -- storage templates --------------------------------------------------
    def storage_template_list(self, limit: str | None = None) -> list[dict[str, Any]]:
        """GET /provisioner/template/storage?limit=REGEX; 404 when none match."""
        return listed(self.http.get(STORAGE, {"limit": limit}), "storage template")

    def storage_template_info(self, name: str) -> dict[str, Any]:
        return self.http.get_one(f"{STORAGE}/{segment(name)}", f"Storage template {name}")

    def storage_template_add(self, name: str) -> str:
        return message_of(self.http.post(STORAGE, {"name": name}))

    def storage_template_remove(self, name: str) -> str:
        return message_of(self.http.delete(f"{STORAGE}/{segment(name)}"))

    def storage_template_disks(self, name: str) -> list[dict[str, Any]]:
        """The template's disks; empty when it has none."""
        return listed(self.http.get(f"{STORAGE}/{segment(name)}/disk"), "disk")

    def storage_template_disk_add(
        self, name: str, disk_id: str, *, pool: str, disk_size: int | None = None,
        source_volume: str | None = None, filesystem: str | None = None,
        filesystem_args: Sequence[str] = (), mountpoint: str | None = None,
    ) -> str:
        """POST /provisioner/template/storage/{name}/disk/{disk_id}?pool=...&disk_size=...
        (or source_volume=...), filesystem, filesystem_arg (repeated), mountpoint."""
        params: Params = {"pool": pool, "disk_size": disk_size,
                          "source_volume": source_volume, "filesystem": filesystem,
                          "filesystem_arg": list(filesystem_args) or None,
                          "mountpoint": mountpoint}
        return message_of(self.http.post(
            f"{STORAGE}/{segment(name)}/disk/{segment(disk_id)}", params))

    def storage_template_disk_remove(self, name: str, disk_id: str) -> str:
        return message_of(self.http.delete(
            f"{STORAGE}/{segment(name)}/disk/{segment(disk_id)}"))
