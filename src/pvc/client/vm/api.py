"""The VM endpoints of the PVC v1 API, as PVC's own client sends them (see the wire rules):
every parameter in the query string but the domain XML, which goes in a form body;
booleans as `True`/`False`, except `true`/`false` on `POST /vm/{vm}/node`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pvc.client.http import HttpClient, message_of, segment
from pvc.common.errors import BackendError

# States whose request, sent twice, does no more than once (the API answers "already").
# A restart or a shutdown sent twice may act twice: never re-sent on a lost connection.
SETS_A_STATE = frozenset({"start", "stop", "disable"})


def _lower(flag: bool) -> str:
    return "true" if flag else "false"


class VmApi(HttpClient):
    """`/vm*` helpers; `ApiClient` inherits them."""

    def vm_list(
        self,
        limit: str | None = None,
        *,
        node: str | None = None,
        state: str | None = None,
        tag: str | None = None,
        negate: bool = False,
    ) -> list[dict[str, Any]]:
        """GET /vm (PVC's client always sends `negate`)."""
        body = self.get(
            "/vm",
            {"limit": limit, "node": node, "state": state, "tag": tag, "negate": negate},
        )
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list):
            raise BackendError("The API answered GET /vm with an unexpected body")
        return [v for v in body if isinstance(v, dict)]

    def vm_info(self, vm: str) -> dict[str, Any]:
        """GET /vm/{vm} (an object or a one-item list)."""
        return self.get_one(f"/vm/{segment(vm)}", f'VM "{vm}"')

    def vm_define(
        self,
        xml: str,
        *,
        node: str | None = None,
        limit: str | None = None,
        selector: str | None = None,
        autostart: bool = False,
        migration_method: str | None = None,
        migration_max_downtime: int | None = None,
        user_tags: Sequence[str] = (),
        protected_tags: Sequence[str] = (),
    ) -> str:
        """POST /vm with the XML in a form body."""
        params = {
            "node": node,
            "limit": limit,
            "selector": selector,
            "autostart": autostart,
            "migration_method": migration_method,
            "migration_max_downtime": migration_max_downtime,
            "user_tags": list(user_tags),
            "protected_tags": list(protected_tags),
        }
        return message_of(self.post("/vm", params, form={"xml": xml}))

    def vm_modify(self, vm: str, xml: str, restart: bool = False) -> str:
        """PUT /vm/{vm}?restart=True|False with the new XML in a form body."""
        return message_of(self.put(f"/vm/{segment(vm)}", {"restart": restart}, form={"xml": xml}))

    def vm_remove(self, vm: str, delete_disks: bool = False) -> str:
        """DELETE /vm/{vm}?delete_disks=False (undefine) or True (remove)."""
        return message_of(self.delete(f"/vm/{segment(vm)}", {"delete_disks": delete_disks}))

    def vm_rename(self, vm: str, new_name: str) -> str:
        """POST /vm/{vm}/rename?new_name=..."""
        return message_of(self.post(f"/vm/{segment(vm)}/rename", {"new_name": new_name}))

    def vm_state(self, vm: str, state: str, force: bool = False, wait: bool = False) -> str:
        """POST /vm/{vm}/state?state=...&force=True|False&wait=True|False."""
        return message_of(
            self.post(f"/vm/{segment(vm)}/state", {"state": state, "force": force, "wait": wait},
                      idempotent=state in SETS_A_STATE)
        )

    def vm_node(
        self,
        vm: str,
        action: str,
        node: str | None = None,
        *,
        force: bool = False,
        wait: bool = False,
        force_live: bool = False,
    ) -> str:
        """POST /vm/{vm}/node (migrate/unmigrate/move) with lower-case booleans."""
        params = {
            "node": node,
            "action": action,
            "force": _lower(force),
            "wait": _lower(wait),
            "force_live": _lower(force_live),
        }
        return message_of(self.post(f"/vm/{segment(vm)}/node", params))

    def vm_meta(
        self,
        vm: str,
        *,
        limit: str | None = None,
        selector: str | None = None,
        autostart: bool | None = None,
        profile: str | None = None,
        migration_method: str | None = None,
        migration_max_downtime: int | None = None,
    ) -> str:
        """POST /vm/{vm}/meta with only the values to change."""
        params = {
            "limit": limit,
            "selector": selector,
            "autostart": autostart,
            "profile": profile,
            "migration_method": migration_method,
            "migration_max_downtime": migration_max_downtime,
        }
        return message_of(self.post(f"/vm/{segment(vm)}/meta", params))

    def vm_tags(self, vm: str) -> list[dict[str, Any]]:
        """GET /vm/{vm}/tags: the tags [{name, type, protected}]."""
        body = self.get_one(f"/vm/{segment(vm)}/tags", f'VM "{vm}"')
        tags = body.get("tags", [])
        if not isinstance(tags, list):
            raise BackendError("The API's VM tags are not a list")
        return [t for t in tags if isinstance(t, dict)]

    def vm_tag(self, vm: str, action: str, tag: str, protected: bool = False) -> str:
        """POST /vm/{vm}/tags?action=add|remove&tag=...&protected=True|False."""
        return message_of(
            self.post(
                f"/vm/{segment(vm)}/tags", {"action": action, "tag": tag, "protected": protected}
            )
        )

    def vm_console(self, vm: str, lines: int | None = None) -> list[str]:
        """GET /vm/{vm}/console?lines=N: the last lines of the serial console."""
        body = self.get_one(f"/vm/{segment(vm)}/console", f'VM "{vm}"', {"lines": lines})
        data = body.get("data", "")
        if not isinstance(data, str):
            raise BackendError("The API's console data is not a string")
        return data.splitlines()
