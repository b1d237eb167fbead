"""Requests still running when pvcapid's shutdown grace ends.

uvicorn cancels them and, for one that has not started its answer, sends a bare
`500 Internal Server Error`: a client cannot tell that from a bug, nor know whether to ask
again. This middleware answers such a request as the API answers any request cut short by
the primary moving: 503 with `Retry-After`, and `X-PVC-Outcome` saying whether it may have
changed anything (a read did not; a write may have).
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pvc.api.errors import cut_short, error_body
from pvc.common.errors import Unavailable

log = logging.getLogger(__name__)


def _answer(method: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    outcome, headers = cut_short(method)
    message = (f"This API stopped before the request was done: it is shutting down while "
               f"the primary moves to another node; {outcome}. Ask again in a moment")
    body = json.dumps(error_body(message, Unavailable.__name__)).encode()
    raw = [(b"content-type", b"application/json"),
           (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return raw, body


class AnswerCutShort:
    """Pure ASGI middleware: a request cancelled before its answer started gets a 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if started:
                raise  # half an answer: uvicorn closes the connection
            method = str(scope.get("method", "GET")).upper()
            log.warning("%s %s cut short by the shutdown: answered 503", method,
                        scope.get("path", ""))
            headers, body = _answer(method)
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            # the shutdown moves on without this task: end it normally, answered
