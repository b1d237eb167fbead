"""Errors to HTTP, in one place.

Every exception of `pvc.common.errors` becomes a JSON object `{"message", "error"}` with the
status its class declares (`http_status`), or a per-endpoint override declared with
`@refusals_as_400`.
Parameter validation errors become 400 naming the parameter; unknown routes 404 and wrong
methods 405, also as JSON objects.

A request cut short because the cluster state cannot be reached (the ZooKeeper session is
suspended or lost, or the API is stopping while the primary hands over) answers 503 with
`Retry-After`, saying whether the request may have changed anything: a read did not; a
write may or may not have (header `X-PVC-Outcome: unknown`), so clients re-send only what
is safe to repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pvc.common.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    InvalidState,
    PVCError,
    StateUnreachable,
)
from pvc.state.store import UNREACHABLE

log = logging.getLogger(__name__)

# Routes whose PVC surface documents only 400 for a refused (valid) request answer their
# refusals with 400, as PVC does. Declare it on the endpoint with `@refusals_as_400`.
_REFUSED_400: dict[type[PVCError], int] = {InvalidState: 400, Conflict: 400, AlreadyExists: 400}
_ENDPOINT_OVERRIDES: dict[Callable[..., Any], dict[type[PVCError], int]] = {}

F = TypeVar("F", bound=Callable[..., Any])


def refusals_as_400(endpoint: F) -> F:
    """Mark an endpoint whose refusals (InvalidState, Conflict, AlreadyExists) are 400."""
    _ENDPOINT_OVERRIDES[endpoint] = _REFUSED_400
    return endpoint


def status_for(exc: PVCError, endpoint: Callable[..., Any] | None = None) -> int:
    overrides = _ENDPOINT_OVERRIDES.get(endpoint, {}) if endpoint is not None else {}
    for cls in type(exc).__mro__:
        if cls in overrides:
            return overrides[cls]
    return exc.http_status


def error_body(message: str, error: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if error:
        body["error"] = error
    return body


def _endpoint(request: Request) -> Callable[..., Any] | None:
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    return endpoint if callable(endpoint) else None


# Seconds a client should wait before it asks again after a 503 (a handover takes about
# one; a failover a few).
RETRY_AFTER = 2
READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _pvc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PVCError)
    if isinstance(exc, StateUnreachable):
        return _unreachable(request, exc)
    status = status_for(exc, _endpoint(request))
    if status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
    headers = {"WWW-Authenticate": "X-Api-Key"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER)}
    return JSONResponse(
        error_body(exc.message, type(exc).__name__), status_code=status, headers=headers
    )


def cut_short(method: str) -> tuple[str, dict[str, str]]:
    """For a request cut short before its end: what may have happened (words for its
    message), and the headers of its 503 (`Retry-After`, `X-PVC-Outcome`)."""
    reading = method.upper() in READS
    outcome = ("nothing was changed" if reading else
               "the request may or may not have taken effect: check before repeating it")
    return outcome, {"Retry-After": str(RETRY_AFTER),
                     "X-PVC-Outcome": "not-applied" if reading else "unknown"}


def _unreachable(request: Request, exc: Exception) -> JSONResponse:
    """ZooKeeper could not be asked: 503, saying whether anything may have changed."""
    outcome, headers = cut_short(request.method)
    message = ("The cluster state (ZooKeeper) cannot be reached from this API right now, "
               f"as while the primary moves; {outcome} ({exc})")
    log.warning("%s %s cut short: %s", request.method, request.url.path, message)
    return JSONResponse(error_body(message, StateUnreachable.__name__), status_code=503,
                        headers=headers)


def describe_validation_error(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
    name = loc[-1] if loc else "request"
    if err.get("type") == "missing":
        return f"Missing required parameter '{name}'"
    msg = str(err.get("msg", "invalid value"))
    if "input" in err:
        return f"Invalid value {err['input']!r} for parameter '{name}': {msg}"
    return f"Invalid parameter '{name}': {msg}"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    messages = [describe_validation_error(dict(e)) for e in exc.errors()]
    return JSONResponse(
        error_body("; ".join(messages) or "Invalid request", InvalidArgument.__name__),
        status_code=400,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"Not found: {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return JSONResponse(
        error_body(message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _state_error(request: Request, exc: Exception) -> JSONResponse:
    """A ZooKeeper error that escaped an operation as kazoo raised it: ZooKeeper could not
    be asked (503, as above), or a race with another change (a node removed or changed
    between two reads): 409, to look again."""
    if isinstance(exc, UNREACHABLE):
        return _unreachable(request, exc)
    message = (f"The cluster state changed while this request was handled "
               f"({type(exc).__name__}); look again and retry")
    log.warning("%s %s raced: %s", request.method, request.url.path, message)
    return JSONResponse(error_body(message, Conflict.__name__), status_code=409)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("Unhandled error in %s %s", request.method, request.url.path)
    return JSONResponse(error_body(f"Internal error: {exc!r}"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PVCError, _pvc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(KazooException, _state_error)
    app.add_exception_handler(KazooTimeoutError, _state_error)
    app.add_exception_handler(Exception, _unexpected)
