"""Schemathesis against our OpenAPI, on the real app and a real ZooKeeper: whatever a
client sends that the schema allows (and much that it does not), no endpoint answers 500.
The waits of `wait=true` are cut to a second so that a fuzzed wait ends quickly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from kazoo.client import KazooClient

from pvc.api.app import create_app
from pvc.api.node import router as node_router
from pvc.api.vm import control as vm_control
from pvc.ops.vm import define as vm_define
from pvc.state.store import Store
from tests.integration.api.support import HEADERS, make_config, standard_cluster
from tests.integration.api.vm.support import domain_xml

pytestmark = pytest.mark.integration


@pytest.fixture
def api_app(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastAPI]:
    monkeypatch.setattr(vm_control, "VM_WAIT", 1.0)
    monkeypatch.setattr(vm_control, "SHUTDOWN_MARGIN", 0.0)
    monkeypatch.setattr(node_router, "DOMAIN_STATE_WAIT", 1.0)
    standard_cluster(store)
    config = make_config(timer={"vm_shutdown_timeout": 1})
    vm_define.define(store, config, domain_xml("web1"), node="hv1")
    yield create_app(config, store)


SETTINGS = settings(max_examples=15, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
SERVER_ERRORS_ALLOWED = (502, 503)  # a backend (Ceph, the task broker) that is not there


def fuzz(app: FastAPI, check: Callable[[schemathesis.Case, Any], str | None]) -> int:
    """Call every operation of the app's OpenAPI with generated cases; `check` returns
    what is wrong with a response, if anything. The number of calls made."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    failures: list[str] = []
    calls = 0
    for operation in operations:

        @SETTINGS
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=HEADERS)
            wrong = check(case, response)
            if wrong:
                failures.append(f"{case.method} {case.formatted_path} {case.query} -> "
                                f"{response.status_code} {wrong}: {response.text[:300]}")

        call()
    assert not failures, "\n".join(sorted(set(failures))[:20])
    return calls


def header(response: Any, name: str) -> str:
    """A response header (schemathesis keeps them lower-cased, as lists of values)."""
    value = response.headers.get(name.lower(), "")
    return str(value[0] if isinstance(value, list) and value else value or "")


def no_server_error(case: schemathesis.Case, response: Any) -> str | None:
    if response.status_code >= 500 and response.status_code not in SERVER_ERRORS_ALLOWED:
        return "server error"
    return None


def test_no_endpoint_answers_500(api_app: FastAPI) -> None:
    assert fuzz(api_app, no_server_error) > 500


def test_with_zookeeper_out_of_reach_requests_get_503_saying_what_happened(
        api_app: FastAPI, zk_hosts: str) -> None:
    """The API's ZooKeeper client is gone (as when the session is lost or the API stops
    while the primary moves): 503 with Retry-After, never 500; a read says nothing
    changed, a write that it may or may not have taken effect."""
    zk = KazooClient(hosts=zk_hosts)  # the same tree as api_app's (filled by it)
    zk.start(timeout=15)
    config = make_config(timer={"vm_shutdown_timeout": 1})
    app = create_app(config, Store(zk))
    zk.stop()
    zk.close()
    outcomes: dict[str, int] = {}

    def check(case: schemathesis.Case, response: Any) -> str | None:
        if response.status_code != 503:
            return no_server_error(case, response)
        if header(response, "Retry-After") != "2":
            return "503 without Retry-After"
        outcome = header(response, "X-PVC-Outcome")
        if outcome:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            text = response.json()["message"]
            if outcome == "not-applied" and "nothing was changed" not in text:
                return "a read that does not say nothing changed"
            if outcome == "unknown" and "may or may not have taken effect" not in text:
                return "a write that does not say it may have taken effect"
        return None

    fuzz(app, check)
    assert outcomes.get("not-applied", 0) > 20 and outcomes.get("unknown", 0) > 20, outcomes
