"""Pure pieces of the API: the form-to-query middleware, error mapping, sessions, filters,
node health."""

from __future__ import annotations

import asyncio
import json
from typing import Any, get_args
from urllib.parse import parse_qsl

import pytest

from pvc.api import auth, errors, forms, schemas
from pvc.common import config as pvcconfig
from pvc.common.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidArgument,
    InvalidState,
    NotFound,
    Unauthorized,
    Unavailable,
)
from pvc.ops.node import records as nodes
from pvc.ops.node.health import keepalive_limit, node_health


def run_middleware(
    method: str,
    query: bytes,
    body: bytes,
    content_type: bytes | None,
    max_bytes: int = forms.MAX_FORM_BYTES,
    chunks: int = 1,
) -> tuple[int, dict[str, Any]]:
    """Send one request through FormToQuery to an app that echoes query and body."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        echo = {"query": scope["query_string"].decode(), "body": message["body"].decode()}
        payload = json.dumps(echo).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": payload})

    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    queue = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", content_type)] if content_type else []
    scope = {"type": "http", "method": method, "query_string": query, "headers": headers}
    asyncio.run(forms.FormToQuery(app, max_bytes)(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


FORM = b"application/x-www-form-urlencoded"


def test_form_fields_join_the_query_and_the_body_is_replayed() -> None:
    body = b"xml=%3Cdomain+type%3D%22kvm%22%3E&tag=a&tag=b&mtu=&name=x%26y"
    status, echo = run_middleware("POST", b"state=true", body, FORM, chunks=3)
    assert status == 200 and echo["body"] == body.decode()
    assert parse_qsl(echo["query"], keep_blank_values=True) == [
        ("state", "true"),
        ("xml", '<domain type="kvm">'),
        ("tag", "a"),
        ("tag", "b"),
        ("mtu", ""),
        ("name", "x&y"),
    ]


@pytest.mark.parametrize(
    ("method", "content_type"),
    [
        ("GET", FORM),
        ("POST", b"multipart/form-data; boundary=x"),
        ("PUT", b"application/json"),
        ("DELETE", None),
    ],
)
def test_other_requests_pass_untouched(method: str, content_type: bytes | None) -> None:
    status, echo = run_middleware(method, b"a=1", b"b=2", content_type)
    assert status == 200 and echo == {"query": "a=1", "body": "b=2"}


def test_content_type_parameters_and_case_are_accepted() -> None:
    content_type = b"Application/X-WWW-Form-Urlencoded; charset=UTF-8"
    _, echo = run_middleware("PATCH", b"", b"b=2", content_type)
    assert echo["query"] == "b=2"


def test_bad_or_huge_form_bodies_are_refused_as_json() -> None:
    status, body = run_middleware("POST", b"", b"a=\xff\xfe", FORM)
    assert status == 400 and "UTF-8" in body["message"]
    status, body = run_middleware("POST", b"", b"a=" + b"x" * 100, FORM, max_bytes=50, chunks=4)
    assert status == 413 and "larger" in body["message"]


def test_merge_query() -> None:
    assert forms.merge_query(b"", []) == b""
    assert forms.merge_query(b"a=1", []) == b"a=1"
    assert forms.merge_query(b"a=1", [("b", "x y")]) == b"a=1&b=x+y"
    assert forms.merge_query(b"", [("c", "é")]) == b"c=%C3%A9"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (NotFound("x"), 404),
        (AlreadyExists("x"), 409),
        (InvalidState("x"), 409),
        (InvalidArgument("x"), 400),
        (Conflict("x"), 409),
        (BackendError("x"), 502),
        (Unauthorized("x"), 401),
        (Unavailable("x"), 503),
    ],
)
def test_error_statuses_and_declared_overrides(exc: Exception, status: int) -> None:
    def plain() -> None: ...

    @errors.refusals_as_400
    def refusing() -> None: ...

    assert isinstance(exc, errors.PVCError)
    assert errors.status_for(exc) == status
    assert errors.status_for(exc, plain) == status
    refused = 400 if isinstance(exc, InvalidState | Conflict | AlreadyExists) else status
    assert errors.status_for(exc, refusing) == refused


def test_validation_errors_name_the_parameter() -> None:
    missing = {"type": "missing", "loc": ("query", "state"), "msg": "Field required"}
    assert errors.describe_validation_error(missing) == "Missing required parameter 'state'"
    bad = {"type": "bool_parsing", "loc": ("query", "state"), "msg": "not a bool", "input": "maybe"}
    assert errors.describe_validation_error(bad) == (
        "Invalid value 'maybe' for parameter 'state': not a bool"
    )


def _config(*tokens: str) -> pvcconfig.Config:
    networks = {
        name: {
            "device": f"eth{i}",
            "ipv4": {"network_address": f"10.0.{i}.0", "netmask": "255.255.255.0"},
        }
        for i, name in enumerate(pvcconfig.NETWORK_NAMES)
    }
    return pvcconfig.parse(
        {
            "cluster": {"all_nodes": ["hv1"], "coordinator_nodes": ["hv1"], "networks": networks},
            "api": {"token": [{"token": t} for t in tokens]},
        }
    )


def test_sessions_are_signed_expire_and_die_with_their_token() -> None:
    cfg = _config("alpha", "beta")
    secret = b"k"
    value = auth.issue_session(secret, "beta", now=1000.0)
    assert auth.session_valid(cfg, secret, value, now=1001.0)
    assert not auth.session_valid(cfg, secret, value, now=1000.0 + auth.SESSION_TTL + 1)
    assert not auth.session_valid(cfg, b"other", value, now=1001.0)
    assert not auth.session_valid(_config("alpha"), secret, value, now=1001.0)
    for forged in ("", "x", "123", "abc.def", value.split(".")[0] + ".00"):
        assert not auth.session_valid(cfg, secret, forged, now=1001.0)
    assert auth.token_matches(cfg, "alpha") and not auth.token_matches(cfg, "alph")
    assert not auth.token_matches(cfg, "ålpha")


@pytest.mark.parametrize(
    ("limit", "matches", "misses"),
    [
        ("hv", ["hv1", "xhv"], ["node1"]),
        ("^hv", ["hv1"], ["xhv"]),
        ("1$", ["hv1"], ["hv10"]),
        ("^hv1$", ["hv1"], ["hv10", "ahv1"]),
        ("hv[23]", ["hv2", "hv3"], ["hv1"]),
    ],
)
def test_limit_is_a_fuzzy_regex(limit: str, matches: list[str], misses: list[str]) -> None:
    pattern = nodes.limit_matcher(limit)
    assert pattern is not None
    assert all(pattern.match(m) for m in matches)
    assert not any(pattern.match(m) for m in misses)
    assert nodes.limit_matcher(None) is None and nodes.limit_matcher("") is None
    with pytest.raises(InvalidArgument):
        nodes.limit_matcher("hv[")
    with pytest.raises(InvalidArgument):
        nodes.limit_matcher("a" * 300)


def test_node_health_from_state_and_keepalive() -> None:
    limit = keepalive_limit(5, 6)
    assert limit == 30
    fresh = node_health("run", 1000.0, 1010.0, limit)
    assert (fresh.health, fresh.lost, fresh.details[0].health_delta) == (100, False, 0)
    assert fresh.details[0].last_run == 1000
    stale = node_health("run", 1000.0, 1031.0, limit)
    assert (stale.health, stale.lost) == (0, True) and "31 s" in stale.details[0].message
    assert node_health("run", 0.0, 1000.0, limit).health == 0
    assert node_health("dead", 1000.0, 1001.0, limit).lost
    assert node_health("fenced", 1000.0, 1001.0, limit).health == 0
    stopped = node_health("stop", 1000.0, 1001.0, limit)
    assert (stopped.health, stopped.lost) == (0, False)
    assert node_health("init", 1000.0, 1001.0, limit).health == 50
    assert node_health("shutdown", 1000.0, 1100.0, limit).health == 0


def test_documented_state_values_match_the_ops_layer() -> None:
    assert get_args(schemas.DaemonState) == nodes.DAEMON_STATES
    assert get_args(schemas.CoordinatorState) == nodes.COORDINATOR_STATES
    assert get_args(schemas.DomainState) == nodes.DOMAIN_STATES
