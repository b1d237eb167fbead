"""A request still running when uvicorn's shutdown grace ends is answered 503 (Retry-After,
X-PVC-Outcome), not with uvicorn's bare 500: a real uvicorn on loopback, stopped while an
endpoint is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from pvc.api.shutdown import AnswerCutShort
from tests.ports import free_port

GRACE = 0.3


def _busy(request: Request) -> JSONResponse:  # a sync endpoint: runs in a worker thread
    time.sleep(float(request.query_params.get("seconds", "0")))
    return JSONResponse({"message": "done"})


def _app() -> Starlette:
    return Starlette(routes=[Route("/busy", _busy, methods=["GET", "POST"])])


@contextmanager
def serving(app: ASGIApp) -> Iterator[tuple[str, uvicorn.Server]]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="off",
        timeout_graceful_shutdown=GRACE))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive()


def _ask_while_stopping(method: str, seconds: float, app: ASGIApp) -> httpx.Response:
    answers: list[httpx.Response] = []
    with serving(app) as (url, server):
        def ask() -> None:
            answers.append(httpx.request(method, f"{url}/busy", params={"seconds": seconds},
                                         timeout=20))

        asker = threading.Thread(target=ask)
        asker.start()
        time.sleep(0.3)  # the request is in the endpoint now
        server.should_exit = True
        asker.join(15)
    assert len(answers) == 1
    return answers[0]


@pytest.mark.parametrize(("method", "outcome"), [("POST", "unknown"), ("GET", "not-applied")])
def test_a_request_outliving_the_grace_is_answered_503(method: str, outcome: str) -> None:
    r = _ask_while_stopping(method, GRACE + 1.5, AnswerCutShort(_app()))
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "2"
    assert r.headers["X-PVC-Outcome"] == outcome
    assert r.json()["error"] == "Unavailable"
    assert "shutting down" in r.json()["message"]


def test_a_request_done_within_the_grace_gets_its_answer() -> None:
    r = _ask_while_stopping("POST", 0.2, AnswerCutShort(_app()))
    assert r.status_code == 200
    assert r.json() == {"message": "done"}


def test_without_the_middleware_uvicorn_answers_a_bare_500() -> None:
    """What the middleware is for (if uvicorn ever answers cancelled requests itself,
    this fails and the middleware can go)."""
    r = _ask_while_stopping("GET", GRACE + 1.5, _app())
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
