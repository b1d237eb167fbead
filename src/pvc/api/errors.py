"""Errors to HTTP, in one place.

Every exception of `pvc.common.errors` becomes a JSON object `{"message", "error"}` with the
status its class declares (`http_status`), or a per-endpoint override declared with
`@refusals_as_400`.
Parameter validation errors become 400 naming the parameter; unknown routes 404 and wrong
methods 405, also as JSON objects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pvc.common.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    InvalidState,
    PVCError,
)

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


async def _pvc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PVCError)
    status = status_for(exc, _endpoint(request))
    if status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
    headers = {"WWW-Authenticate": "X-Api-Key"} if status == 401 else None
    return JSONResponse(
        error_body(exc.message, type(exc).__name__), status_code=status, headers=headers
    )


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


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("Unhandled error in %s %s", request.method, request.url.path)
    return JSONResponse(error_body(f"Internal error: {exc!r}"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PVCError, _pvc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
