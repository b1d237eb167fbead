"""One mechanism for "query string or form body": an ASGI middleware.

PVC's server reads every parameter from the query string or an urlencoded form. This
middleware appends the fields of an `application/x-www-form-urlencoded` body of a
POST/PUT/PATCH/DELETE to the query string, so every endpoint declares its parameters once,
as query parameters (and the OpenAPI document lists them all). The body is passed on
unchanged; multipart and other bodies are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FORM_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPE = b"application/x-www-form-urlencoded"
# A whole-cluster restore travels as a form field; ZooKeeper takes up to 64 MiB per txn.
MAX_FORM_BYTES = 64 * 1024 * 1024


def _content_type(scope: Scope) -> bytes:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def merge_query(query_string: bytes, pairs: list[tuple[str, str]]) -> bytes:
    """The query string with the form pairs appended (form values come last)."""
    if not pairs:
        return query_string
    extra = urlencode(pairs).encode("ascii")
    return query_string + b"&" + extra if query_string else extra


class FormToQuery:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_FORM_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in FORM_METHODS
            or _content_type(scope) != FORM_TYPE
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, f"The form body is larger than {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            await _reply(send, 400, "The form body is not valid UTF-8 urlencoded data")
            return
        scope = dict(scope)
        scope["query_string"] = merge_query(scope.get("query_string", b""), pairs)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
