"""The HTTP layer of the PVC API client: requests, retries, and errors.

Every parameter goes in the query string, whatever the method (lists as repeated keys,
None left out, booleans as `True`/`False`); only large payloads go in a form body. A
response that is not a success becomes an exception of `pvc.common.errors`.

Retries carry a request across a primary handover or failover (the API moves between
nodes, and answers 503 with `Retry-After` while its cluster state is out of reach), for
up to `connect_window` seconds:
* any request that never reached the API (no connection could be made) is sent again;
* a request that is safe to repeat (GETs, and writes that set a state, marked
  `idempotent`) is sent again after a lost connection, a timeout or a 502/503/504;
* a write the API answered with 503 and `X-PVC-Outcome: not-applied` is sent again;
* any other write is sent once: when its connection is lost, or the API answers that it
  may or may not have taken effect, the error says so, and the operator checks.
GETs are also tried up to three times on 429 and 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from pvc.client.connections import Connection
from pvc.common.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidArgument,
    InvalidState,
    NotFound,
    PVCError,
    Unauthorized,
    Unavailable,
)

Scalar = str | int | float | bool
ParamValue = Scalar | Sequence[Scalar] | None
Params = Mapping[str, ParamValue]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MOVING_STATUSES = frozenset({502, 503, 504})  # the API or its state moving: time-bound
STATUS_ATTEMPTS = 3  # tries of a GET that keeps answering 429 or 500
CONNECT_WINDOW = 10.0  # seconds a request keeps being retried while the API moves
MAX_RETRY_AFTER = 2.0  # seconds: the longest pause a Retry-After header gets here
USER_AGENT = "pvc-client"

_STATUS_ERRORS: dict[int, type[PVCError]] = {
    400: InvalidArgument,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    405: InvalidArgument,
    409: InvalidState,
    422: InvalidArgument,
    429: Unavailable,
    503: Unavailable,
}
# A 409 body may name the precise error class (`"error": "AlreadyExists"`).
_NAMED_409: dict[str, type[PVCError]] = {
    cls.__name__: cls for cls in (AlreadyExists, InvalidState, Conflict)
}


def encode_params(params: Params | None) -> list[tuple[str, str]]:
    """Query pairs as PVC clients send them: None dropped, lists repeated, str(bool)."""
    pairs: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        values: Iterable[Scalar] = value if isinstance(value, list | tuple) else (value,)
        for item in values:
            pairs.append((key, str(item)))
    return pairs


def _body_message(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if isinstance(message, str) and message:
        return message
    detail = body.get("detail")  # validation errors of some frameworks
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p not in ("query", "body"))
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
        if parts:
            return "; ".join(parts)
    return None


class NotDelivered(Unavailable):
    """No connection to the API could be made: the request was never sent."""


class OutcomeUnknown(Unavailable):
    """The connection was lost after the request was sent: it may or may not have been
    carried out."""


def error_for_response(response: httpx.Response) -> PVCError:
    """The exception of our error tree that a non-success response stands for."""
    status = response.status_code
    message = _body_message(response) or f"HTTP {status} {response.reason_phrase}".strip()
    cls: type[PVCError]
    if status in _STATUS_ERRORS:
        cls = _STATUS_ERRORS[status]
    elif status >= 500:
        cls = BackendError
    elif status >= 400:
        cls = InvalidArgument
    else:
        cls = BackendError
        message = f"Unexpected response from the API: HTTP {status}: {message}"
    if status == 409:
        try:
            name = response.json().get("error")
        except (AttributeError, json.JSONDecodeError, UnicodeDecodeError):
            name = None
        cls = _NAMED_409.get(name, cls) if isinstance(name, str) else cls
    return cls(message)


class HttpClient:
    """A connection to one PVC API: base URL, API key, retries, error mapping.

    `transport` replaces the network (e.g. `httpx.MockTransport` in tests); `sleep` and
    `clock` replace time for the retry back-off.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        connect_window: float = CONNECT_WINDOW,
        status_attempts: int = STATUS_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self.connect_window = connect_window
        self.status_attempts = max(1, status_attempts)
        self._sleep = sleep
        self._clock = clock
        headers = {"User-Agent": USER_AGENT}
        if connection.api_key:
            headers["X-Api-Key"] = connection.api_key
        self._http = httpx.Client(
            base_url=connection.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            verify=connection.verify_ssl,
            transport=transport,
        )

    # -- lifecycle ------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- requests -------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.connection.base_url}{path}"

    def _send(
        self, method: str, path: str, params: Params | None, form: Params | None
    ) -> httpx.Response:
        data = dict(encode_params(form)) if form else None
        query: list[tuple[str, Scalar | None]] = list(encode_params(params))
        where = self.url(path)
        try:
            return self._http.request(method, path, params=query, data=data)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise InvalidArgument(f"Invalid API address {where}: {exc}") from exc
        except httpx.ConnectError as exc:
            raise NotDelivered(f"Cannot connect to the API at {where}: {exc}") from exc
        except httpx.ConnectTimeout as exc:
            raise NotDelivered(f"The API at {where} did not accept a connection in time: "
                               f"{exc or 'timeout'}") from exc
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            lost = ("did not answer in time" if isinstance(exc, httpx.TimeoutException)
                    else "closed the connection")
            if method in ("GET", "HEAD"):
                raise Unavailable(f"The API at {where} {lost}: {exc or 'timeout'}") from exc
            raise OutcomeUnknown(
                f"The API at {where} {lost} while it handled {method} {path}, as when the "
                "primary moves: the request may or may not have taken effect; check before "
                f"repeating it ({exc or 'timeout'})") from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"Bad response from the API at {where}: {exc}") from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        form: Params | None = None,
        ok: Iterable[int] = (200,),
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request, retried as the module says; raise for anything but an `ok`
        status. `idempotent`: whether sending it twice does no more than once (default:
        only for GET)."""
        method = method.upper()
        accepted = frozenset(ok)
        safe = method in ("GET", "HEAD") if idempotent is None else idempotent
        response = self._send_with_retries(method, path, params, form, safe)
        if response.status_code not in accepted:
            raise error_for_response(response)
        return response

    def _send_with_retries(self, method: str, path: str, params: Params | None,
                           form: Params | None, safe: bool) -> httpx.Response:
        deadline = self._clock() + self.connect_window
        status_tries = 0
        delay = 0.5
        while True:
            pause = delay
            try:
                response = self._send(method, path, params, form)
            except NotDelivered:
                if self._clock() + delay > deadline:
                    raise
            except Unavailable:  # sent, then lost: again only if that is safe
                if not safe or self._clock() + delay > deadline:
                    raise
            else:
                status = response.status_code
                if status in MOVING_STATUSES and (safe or _not_applied(response)):
                    pause = _retry_after(response, delay)
                    if self._clock() + pause > deadline:
                        return response
                elif status in RETRY_STATUSES and method == "GET":
                    status_tries += 1
                    if status_tries >= self.status_attempts:
                        return response
                else:
                    return response
            self._sleep(pause)
            delay = min(delay * 2, 2.0)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        form: Params | None = None,
        ok: Iterable[int] = (200,),
        idempotent: bool | None = None,
    ) -> Any:
        """Like `request`, returning the parsed JSON body."""
        response = self.request(method, path, params=params, form=form, ok=ok,
                                idempotent=idempotent)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BackendError(
                f"The API answered {method} {path} with a body that is not JSON"
            ) from exc

    def get(self, path: str, params: Params | None = None) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, params: Params | None = None, form: Params | None = None,
             idempotent: bool = False) -> Any:
        return self.call("POST", path, params=params, form=form, idempotent=idempotent)

    def put(self, path: str, params: Params | None = None, form: Params | None = None) -> Any:
        return self.call("PUT", path, params=params, form=form)

    def delete(self, path: str, params: Params | None = None) -> Any:
        return self.call("DELETE", path, params=params)

    def get_one(self, path: str, what: str, params: Params | None = None) -> dict[str, Any]:
        """A single-object GET: the API may answer with the object or a one-item list."""
        body = self.get(path, params)
        if isinstance(body, list):
            if len(body) != 1 or not isinstance(body[0], dict):
                raise NotFound(f"{what} not found")
            body = body[0]
        if not isinstance(body, dict):
            raise BackendError(f"The API answered GET {path} with an unexpected body")
        return body


def _not_applied(response: httpx.Response) -> bool:
    """The API says the request changed nothing (a 503 before anything was written)."""
    return bool(response.headers.get("X-PVC-Outcome") == "not-applied")


def _retry_after(response: httpx.Response, default: float) -> float:
    """The pause a 503 asks for (`Retry-After` in seconds), at most MAX_RETRY_AFTER."""
    try:
        return min(max(float(response.headers.get("Retry-After", default)), 0.0),
                   MAX_RETRY_AFTER)
    except ValueError:
        return default


def segment(value: str | int) -> str:
    """One path segment, escaped (names are validated by the API, not here)."""
    return quote(str(value), safe="")


def message_of(body: Any) -> str:
    """The `message` of a write response (empty when there is none)."""
    if isinstance(body, dict):
        message = body.get("message", "")
        return message if isinstance(message, str) else json.dumps(message)
    return ""
