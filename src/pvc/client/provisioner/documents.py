"""Userdata and provisioner scripts over the PVC v1 API, sent as PVC's own client sends
them: the document as the form field `data`, the name and `limit` in the query string.
List endpoints answer 404 when nothing matches (NotFound here); a single document comes
back as a list of one.

`UserdataApi(client).add("web", text)`, `ScriptApi(client).listing()`, where `client` is an
`HttpClient`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pvc.client.http import HttpClient, message_of, segment
from pvc.client.provisioner.api import listed
from pvc.common.errors import BackendError


class DocumentApi:
    """A named text document of the provisioner: `PATH` is its collection, `FIELD` the
    key that holds the text in the API's objects, `WHAT` how messages name it."""

    PATH: ClassVar[str]
    FIELD: ClassVar[str]
    WHAT: ClassVar[str]

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def listing(self, limit: str | None = None) -> list[dict[str, Any]]:
        """GET {PATH}?limit=REGEX: objects {id, name, FIELD}; 404 when none match."""
        return listed(self.http.get(self.PATH, {"limit": limit}), self.WHAT)

    def info(self, name: str) -> dict[str, Any]:
        """GET {PATH}/{name}: the object {id, name, FIELD}."""
        return self.http.get_one(f"{self.PATH}/{segment(name)}", f"{self.WHAT} {name}")

    def document(self, name: str) -> str:
        """The text of document `name`, as it is stored."""
        text = self.info(name).get(self.FIELD)
        if not isinstance(text, str):
            raise BackendError(f"The API answered {self.WHAT} {name} without its text")
        return text

    def add(self, name: str, data: str) -> str:
        """POST {PATH}?name=NAME with the form body data=TEXT."""
        return message_of(self.http.post(self.PATH, {"name": name}, form={"data": data}))

    def modify(self, name: str, data: str) -> str:
        """PUT {PATH}/{name} with the form body data=TEXT (the whole new text)."""
        return message_of(self.http.put(f"{self.PATH}/{segment(name)}",
                                        form={"data": data}))

    def remove(self, name: str) -> str:
        return message_of(self.http.delete(f"{self.PATH}/{segment(name)}"))


class UserdataApi(DocumentApi):
    """Cloud-init userdata: objects {id, name, userdata}."""

    PATH = "/provisioner/userdata"
    FIELD = "userdata"
    WHAT = "userdata"


class ScriptApi(DocumentApi):
    """Provisioner scripts (Python): objects {id, name, script}."""

    PATH = "/provisioner/script"
    FIELD = "script"
    WHAT = "script"
