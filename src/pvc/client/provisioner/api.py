"""The provisioner endpoints of the PVC v1 API (`/provisioner/...`), sent as PVC's own
client sends them: every parameter in the query string, booleans as `True`/`False`,
None left out. List endpoints answer 404 when nothing matches (NotFound here).

`ProvisionerApi(client).system_template_list()`, where `client` is an `HttpClient`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from pvc.client.http import HttpClient, Params, message_of, segment
from pvc.client.storage.api import post_file
from pvc.common.errors import BackendError

SYSTEM = "/provisioner/template/system"


def listed(body: Any, what: str) -> list[dict[str, Any]]:
    """The objects of a list answer (a lone object counts as a list of one)."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise BackendError(f"The API answered the {what} list with an unexpected body")
    return [item for item in body if isinstance(item, dict)]


def system_settings(
    *, vcpus: int | None = None, vram: int | None = None, serial: bool | None = None,
    vnc: bool | None = None, vnc_bind: str | None = None, node_limit: str | None = None,
    node_selector: str | None = None, node_autostart: bool | None = None,
    migration_method: str | None = None, migration_max_downtime: int | None = None,
) -> Params:
    return {"vcpus": vcpus, "vram": vram, "serial": serial, "vnc": vnc, "vnc_bind": vnc_bind,
            "node_limit": node_limit, "node_selector": node_selector,
            "node_autostart": node_autostart, "migration_method": migration_method,
            "migration_max_downtime": migration_max_downtime}


class ProvisionerApi:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    # -- system templates ---------------------------------------------------
    def system_template_list(self, limit: str | None = None) -> list[dict[str, Any]]:
        """GET /provisioner/template/system?limit=REGEX; 404 when none match."""
        return listed(self.http.get(SYSTEM, {"limit": limit}), "system template")

    def system_template_info(self, name: str) -> dict[str, Any]:
        return self.http.get_one(f"{SYSTEM}/{segment(name)}", f"System template {name}")

    def system_template_add(self, name: str, **settings: Any) -> str:
        """POST /provisioner/template/system?name=...&vcpus=...&vram=...&serial=...&vnc=...
        (the rest optional: see `system_settings`)."""
        params: Params = {"name": name, **system_settings(**settings)}
        return message_of(self.http.post(SYSTEM, params))

    def system_template_modify(self, name: str, **settings: Any) -> str:
        """PUT /provisioner/template/system/{name} with only the settings given."""
        return message_of(self.http.put(f"{SYSTEM}/{segment(name)}",
                                        system_settings(**settings)))

    def system_template_remove(self, name: str) -> str:
        return message_of(self.http.delete(f"{SYSTEM}/{segment(name)}"))


PROFILE = "/provisioner/profile"


class ProfileApi:
    """`/provisioner/profile`: profiles by name."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def profile_list(self, limit: str | None = None) -> list[dict[str, Any]]:
        return listed(self.http.get(PROFILE, {"limit": limit}), "profile")

    def profile_info(self, name: str) -> dict[str, Any]:
        return self.http.get_one(f"{PROFILE}/{segment(name)}", f"Profile {name}")

    def profile_add(self, name: str, profile_type: str, *, system_template: str,
                    script: str | None = None, network_template: str | None = None,
                    storage_template: str | None = None, userdata: str | None = None,
                    ova: str | None = None, arguments: list[str] | None = None) -> str:
        """POST /provisioner/profile?name=...&profile_type=...&...&arg=k=v&arg=..."""
        params: Params = {"name": name, "profile_type": profile_type, "script": script,
                          "system_template": system_template,
                          "network_template": network_template,
                          "storage_template": storage_template, "userdata": userdata,
                          "ova": ova, "arg": arguments or None}
        return message_of(self.http.post(PROFILE, params))

    def profile_modify(self, name: str, *, system_template: str | None = None,
                       script: str | None = None, network_template: str | None = None,
                       storage_template: str | None = None, userdata: str | None = None,
                       arguments: list[str] | None = None) -> str:
        """PUT /provisioner/profile/{name} with only what is given ("" clears a template)."""
        params: Params = {"script": script, "system_template": system_template,
                          "network_template": network_template,
                          "storage_template": storage_template, "userdata": userdata,
                          "arg": arguments}
        return message_of(self.http.put(f"{PROFILE}/{segment(name)}", params))

    def profile_remove(self, name: str) -> str:
        return message_of(self.http.delete(f"{PROFILE}/{segment(name)}"))


def create_vm(http: HttpClient, name: str, profile: str, define_vm: bool = True,
              start_vm: bool = True, arguments: list[str] | None = None) -> dict[str, Any]:
    """POST /provisioner/create (202): the `{task_id, task_name, run_on}` of the build."""
    body = http.call("POST", "/provisioner/create",
                     params={"name": name, "profile": profile, "define_vm": define_vm,
                             "start_vm": start_vm, "arg": arguments or None},
                     ok=(202,))
    if not isinstance(body, dict) or not body.get("task_id"):
        raise BackendError("The API started the build but did not say which task runs it")
    return body


OVA = "/provisioner/ova"


class OvaApi:
    """`/provisioner/ova`: imported OVA images."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def ova_list(self, limit: str | None = None) -> list[dict[str, Any]]:
        return listed(self.http.get(OVA, {"limit": limit}), "OVA")

    def ova_upload(self, name: str, pool: str, archive: IO[bytes], size: int,
                   filename: str = "image.ova",
                   progress: Callable[[int], None] | None = None) -> str:
        """POST /provisioner/ova?pool=...&name=...&ova_size=... with the archive streamed
        as the multipart field `file`."""
        return post_file(self.http, OVA, {"pool": pool, "name": name, "ova_size": str(size)},
                         archive, filename, progress)

    def ova_remove(self, name: str) -> str:
        return message_of(self.http.delete(f"{OVA}/{segment(name)}"))
