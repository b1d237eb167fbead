"""ApiClient: what goes on the wire, retries, and how failures become PVC errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from pvc.client import ApiClient, Connection, encode_params
from pvc.client.http import OutcomeUnknown
from pvc.common.errors import (
    AlreadyExists,
    BackendError,
    InvalidArgument,
    InvalidState,
    NotFound,
    PVCError,
    Unauthorized,
    Unavailable,
)
from tests.unit.fakes import FakeTime

CONN = Connection("test", "10.0.0.250", 7370, "http", "SECRET")



Handler = Callable[[httpx.Request], httpx.Response]


def make(handler: Handler, time: FakeTime | None = None) -> tuple[ApiClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    t = time or FakeTime()
    client = ApiClient(CONN, transport=httpx.MockTransport(record), sleep=t.sleep, clock=t.clock)
    return client, seen


def ok(body: Any = None) -> Handler:
    return lambda request: httpx.Response(200, json={"message": "ok"} if body is None else body)


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return list(request.url.params.multi_items())


def test_encode_params() -> None:
    assert encode_params({"a": None, "b": True, "c": False, "d": ["x", "y"], "e": 3, "f": ""}) == [
        ("b", "True"),
        ("c", "False"),
        ("d", "x"),
        ("d", "y"),
        ("e", "3"),
        ("f", ""),
    ]


def test_base_url_key_header_and_query_for_post() -> None:
    client, seen = make(ok())
    assert client.node_coordinator_state("hv1", "primary") == "ok"
    (req,) = seen
    assert req.method == "POST"
    assert str(req.url) == "http://10.0.0.250:7370/api/v1/node/hv1/coordinator-state?state=primary"
    assert req.headers["X-Api-Key"] == "SECRET"
    assert req.content == b""


def test_no_key_header_without_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    ApiClient(Connection("n", "h"), transport=httpx.MockTransport(handler)).status()
    assert "X-Api-Key" not in seen[0].headers


def test_restore_sends_cluster_data_as_form_and_confirmation_in_query() -> None:
    client, seen = make(ok({"message": "Restore completed"}))
    payload = json.dumps({"/nodes": {"hv1": "x"}})
    assert client.restore(payload) == "Restore completed"
    (req,) = seen
    assert req.url.path == "/api/v1/restore"
    assert query(req) == [("yes-i-really-mean-it", "yes")]
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(req.content.decode()) == [("cluster_data", payload)]


def test_initialize_and_maintenance_parameters() -> None:
    client, seen = make(ok())
    client.initialize(overwrite=True)
    client.initialize()
    client.set_maintenance(True)
    client.set_maintenance(False)
    assert [(r.url.path, query(r)) for r in seen] == [
        ("/api/v1/initialize", [("overwrite", "True"), ("yes-i-really-mean-it", "yes")]),
        ("/api/v1/initialize", [("overwrite", "False"), ("yes-i-really-mean-it", "yes")]),
        ("/api/v1/status", [("state", "true")]),
        ("/api/v1/status", [("state", "false")]),
    ]


def test_node_list_filters_leave_out_none() -> None:
    client, seen = make(ok([]))
    client.node_list("hv", coordinator_state="primary")
    assert query(seen[0]) == [("limit", "hv"), ("coordinator_state", "primary")]


def test_backup_decodes_the_double_encoded_body() -> None:
    inner = {"/nodes": {"hv1": "data"}, "/config": {}}
    client, _ = make(ok(json.dumps(inner)))
    assert client.backup() == inner


@pytest.mark.parametrize("body", [{"name": "hv1"}, [{"name": "hv1"}]])
def test_single_object_get_accepts_object_or_one_item_list(body: Any) -> None:
    client, _ = make(ok(body))
    assert client.node_info("hv1") == {"name": "hv1"}


@pytest.mark.parametrize("body", [[], [{"name": "a"}, {"name": "b"}]])
def test_single_object_get_with_other_lists_is_not_found(body: Any) -> None:
    client, _ = make(ok(body))
    with pytest.raises(NotFound, match="Node hv1 not found"):
        client.node_info("hv1")


def test_node_log_splits_lines() -> None:
    client, seen = make(ok({"name": "hv1", "data": "one\ntwo\nthree"}))
    assert client.node_log("hv1", 3) == ["one", "two", "three"]
    assert query(seen[0]) == [("lines", "3")]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidArgument),
        (401, Unauthorized),
        (403, Unauthorized),
        (404, NotFound),
        (409, InvalidState),
        (500, BackendError),
        (502, BackendError),
    ],
)
def test_error_statuses_map_to_pvc_errors(status: int, cls: type[PVCError]) -> None:
    client, _ = make(lambda r: httpx.Response(status, json={"message": f"failed {status}"}))
    with pytest.raises(cls) as info:
        client.post("/status", {"state": "true"})
    assert type(info.value) is cls
    assert info.value.message == f"failed {status}"


def test_409_body_may_name_the_precise_error() -> None:
    client, _ = make(
        lambda r: httpx.Response(409, json={"message": "exists", "error": "AlreadyExists"})
    )
    with pytest.raises(AlreadyExists, match="exists"):
        client.post("/x")


def test_non_json_error_body_falls_back_to_status_line() -> None:
    client, _ = make(lambda r: httpx.Response(404, text="<html>nope</html>"))
    with pytest.raises(NotFound, match=r"^HTTP 404 Not Found$"):
        client.post("/x")


def test_validation_detail_is_used_when_there_is_no_message() -> None:
    detail = [{"loc": ["query", "state"], "msg": "field required"}]
    client, _ = make(lambda r: httpx.Response(422, json={"detail": detail}))
    with pytest.raises(InvalidArgument, match="state: field required"):
        client.post("/x")


def test_unexpected_success_status_is_a_failure() -> None:
    client, _ = make(lambda r: httpx.Response(204))
    with pytest.raises(BackendError, match="HTTP 204"):
        client.post("/x")


def test_get_is_retried_on_503_then_succeeds() -> None:
    answers = [503, 502, 200]
    client, seen = make(lambda r: httpx.Response(answers.pop(0), json={"message": "m"}))
    assert client.get("/status") == {"message": "m"}
    assert len(seen) == 3


def test_get_gives_up_after_a_few_retryable_statuses() -> None:
    client, seen = make(lambda r: httpx.Response(500, json={"message": "broken"}))
    with pytest.raises(BackendError, match="broken"):
        client.get("/status")
    assert len(seen) == 3


def test_post_is_sent_once_even_on_503() -> None:
    client, seen = make(lambda r: httpx.Response(503, json={"message": "busy"}))
    with pytest.raises(Unavailable, match="busy"):
        client.post("/status", {"state": "true"})
    assert len(seen) == 1


def test_get_retries_connection_errors_within_the_window() -> None:
    failures = [3]

    def handler(request: httpx.Request) -> httpx.Response:
        if failures[0]:
            failures[0] -= 1
            raise httpx.ConnectError("Connection refused", request=request)
        return httpx.Response(200, json={"name": "hv1"})

    client, seen = make(handler)
    assert client.get("/node/hv1") == {"name": "hv1"}
    assert len(seen) == 4


def test_get_gives_up_on_connection_errors_after_about_ten_seconds() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    time = FakeTime()
    client, seen = make(handler, time)
    with pytest.raises(Unavailable) as info:
        client.get("/status")
    assert info.value.message == (
        "Cannot connect to the API at http://10.0.0.250:7370/api/v1/status: Connection refused"
    )
    assert 5.0 <= time.now <= 10.0
    assert len(seen) > 3


def test_a_post_that_never_reached_the_api_is_sent_again() -> None:
    """Connection refused: nothing was sent, so any request may be sent again (the API
    is moving to another node)."""
    failures = [2]

    def handler(request: httpx.Request) -> httpx.Response:
        if failures[0]:
            failures[0] -= 1
            raise httpx.ConnectError("Connection refused", request=request)
        return httpx.Response(200, json={"message": "Set the cluster in maintenance mode."})

    client, seen = make(handler)
    assert client.set_maintenance(True) == "Set the cluster in maintenance mode."
    assert len(seen) == 3


def test_a_post_that_never_reaches_the_api_gives_up_after_the_window() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    time = FakeTime()
    client, seen = make(handler, time)
    with pytest.raises(Unavailable, match="Cannot connect to the API"):
        client.post("/vm", {"node": "hv1"}, form={"xml": "<domain/>"})
    assert 5.0 <= time.now <= 10.0 and len(seen) > 3


def test_a_write_whose_connection_was_lost_is_sent_once_and_says_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    client, seen = make(handler)
    with pytest.raises(OutcomeUnknown) as info:
        client.post("/vm", {"node": "hv1"}, form={"xml": "<domain/>"})
    assert len(seen) == 1
    assert "closed the connection while it handled POST /vm" in info.value.message
    assert "may or may not have taken effect" in info.value.message


def test_a_state_setting_write_is_sent_again_after_a_lost_connection() -> None:
    """Flush/ready, primary/secondary, maintenance and VM start/stop/disable set a state:
    sending them twice does no more than once."""
    lost = [1]

    def handler(request: httpx.Request) -> httpx.Response:
        if lost[0]:
            lost[0] -= 1
            raise httpx.ReadError("Connection reset by peer", request=request)
        return httpx.Response(200, json={"message": "Node hv2 is already flushed."})

    client, seen = make(handler)
    assert client.node_domain_state("hv2", "flush", wait=True) == "Node hv2 is already flushed."
    assert len(seen) == 2


def test_a_write_the_api_did_not_apply_is_sent_again_after_retry_after() -> None:
    answers = [httpx.Response(503, json={"message": "moving"},
                              headers={"Retry-After": "2", "X-PVC-Outcome": "not-applied"}),
               httpx.Response(200, json={"message": "done"})]
    time = FakeTime()
    client, seen = make(lambda r: answers.pop(0), time)
    assert client.post("/vm/web1/meta", {"limit": "hv1"}) == {"message": "done"}
    assert len(seen) == 2 and time.sleeps == [2.0]


def test_a_write_that_may_have_taken_effect_is_not_sent_again() -> None:
    client, seen = make(lambda r: httpx.Response(
        503, json={"message": "it may or may not have taken effect"},
        headers={"Retry-After": "2", "X-PVC-Outcome": "unknown"}))
    with pytest.raises(Unavailable, match="may or may not have taken effect"):
        client.post("/vm", {"node": "hv1"}, form={"xml": "<domain/>"})
    assert len(seen) == 1


def test_a_get_rides_out_a_failover_of_several_seconds() -> None:
    """503s for about six seconds (no primary, then a new one loading): a GET keeps
    asking within the window, at the pace the API asks for."""
    time = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        if time.now < 6.0:
            return httpx.Response(503, json={"message": "no primary"},
                                  headers={"Retry-After": "2"})
        return httpx.Response(200, json={"primary_node": "hv2"})

    client, seen = make(handler, time)
    assert client.primary_node() == "hv2"
    assert set(time.sleeps) <= {0.5, 1.0, 2.0} and len(seen) >= 4
