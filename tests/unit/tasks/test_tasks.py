"""The pure parts of the task machinery: ids, routing, settings, progress, wire shapes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from pvc.common import config as pvcconfig
from pvc.common.errors import AlreadyExists, BackendError, InvalidArgument, InvalidState
from pvc.tasks import app as taskapp
from pvc.tasks import catalogue, progress, records, registry, status, submit

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens: these tests must not need Redis


def test_task_ids_are_8_hex_digits_of_a_uuid4() -> None:
    ids = {submit.new_task_id() for _ in range(200)}
    assert len(ids) == 200
    for task_id in ids:
        assert len(task_id) == 8
        assert records.is_task_id(task_id)
        assert int(task_id, 16) >= 0
    assert not records.is_task_id("E15BE83E")
    assert not records.is_task_id("e15be83")
    assert not records.is_task_id("../../x")


def test_each_node_has_its_own_queue() -> None:
    assert submit.queue_for("hv1") == "hv1"
    with pytest.raises(InvalidArgument):
        submit.queue_for("hv1; rm -rf /")
    with pytest.raises(InvalidArgument):
        submit.queue_for("")


def test_settings_are_json_only_late_acks_and_a_long_visibility_timeout() -> None:
    conf = taskapp.settings("redis://10.0.1.250:6379/0")
    assert conf["broker_url"] == conf["result_backend"] == "redis://10.0.1.250:6379/0"
    assert conf["accept_content"] == conf["result_accept_content"] == ["json"]
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is False
    assert conf["result_extended"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["broker_transport_options"]["visibility_timeout"] >= 3600
    assert "pickle" not in repr(conf)


def test_the_app_uses_the_config_redis() -> None:
    raw = yaml.safe_load(pvcconfig.SAMPLE_FILE.read_text())
    # without a keydb hostname: the Sentinels of every coordinator name the master
    sample = taskapp.make_app(pvcconfig.parse(raw))
    sentinels = [f"sentinel://10.0.1.{i}:26379/0" for i in (1, 2, 3)]
    assert sample.conf.broker_url == sample.conf.result_backend == ";".join(sentinels)
    assert sample.conf.broker_transport_options["master_name"] == "pvc"
    assert sample.conf.result_backend_transport_options["master_name"] == "pvc"
    raw["database"]["keydb"]["master_name"] = "tasks-1"
    assert taskapp.make_app(pvcconfig.parse(raw)).conf.broker_transport_options[
        "master_name"] == "tasks-1"
    # no Sentinel: the cluster network's floating address
    raw["database"]["keydb"]["sentinel_port"] = 0
    floating = taskapp.make_app(pvcconfig.parse(raw))
    assert floating.conf.broker_url == "redis://10.0.1.250:6379/0"
    assert "master_name" not in floating.conf.broker_transport_options
    for bad in ({"master_name": "no spaces"}, {"sentinel_port": 70000}, {"sentinel_port": "x"}):
        with pytest.raises(InvalidArgument, match=r"database\.keydb"):
            pvcconfig.parse({**raw, "database": {**raw["database"], "keydb": {
                **raw["database"]["keydb"], **bad}}})
    raw["database"]["keydb"] = {"hostname": "127.0.0.1", "port": 6390, "path": "/2"}
    app = taskapp.make_app(pvcconfig.parse(raw))
    assert app.conf.broker_url == app.conf.result_backend == "redis://127.0.0.1:6390/2"


def test_submit_refuses_unknown_tasks_and_bad_nodes_before_sending() -> None:
    app = taskapp.make_app(redis_url=UNREACHABLE)
    with pytest.raises(InvalidArgument, match="Unknown task"):
        submit.submit(app, "nothing.here", run_on="hv1")
    with pytest.raises(InvalidArgument, match="Invalid task name"):
        submit.submit(app, "Bad Name", run_on="hv1")
    with pytest.raises(InvalidArgument):
        submit.submit(app, catalogue.OSD_ADD, run_on="../hv1")
    with pytest.raises(InvalidArgument, match="not JSON"):
        submit.submit(app, catalogue.OSD_ADD, [object()], run_on="hv1")


def test_submit_without_redis_is_unavailable() -> None:
    from pvc.common.errors import Unavailable

    app = taskapp.make_app(redis_url=UNREACHABLE)
    with pytest.raises(Unavailable, match="Redis"):
        submit.submit(app, catalogue.VM_FLUSH_LOCKS, ["web1"], run_on="hv1")


def test_the_catalogue_has_pvc_names() -> None:
    for name in ("osd.add", "osd.remove", "vm.flush_locks", "storage.benchmark"):
        assert name in catalogue.NAMES
        assert catalogue.known(name)
        registry.task_name(name)
    assert not catalogue.known("osd.explode")


def test_registry_binds_bodies_to_an_app_and_refuses_a_second_body() -> None:
    def body(task: Any) -> dict[str, Any]:
        return progress.finish(task, "ok")

    registry.register("unittest.first")(body)
    registry.register("unittest.first")(body)  # the same body again is fine
    with pytest.raises(AlreadyExists):
        registry.register("unittest.first")(lambda task: None)
    with pytest.raises(InvalidArgument):
        registry.register("NoDots")
    app = taskapp.make_app(redis_url=UNREACHABLE)
    assert "unittest.first" in app.tasks
    assert catalogue.known("unittest.first")
    assert "unittest.first" in registry.install(app)


class FakeTask:
    """A bound task as far as the progress helpers see it."""

    def __init__(self) -> None:
        self.request = SimpleNamespace(id="0123abcd")
        self.states: list[tuple[str | None, dict[str, Any] | None]] = []

    def update_state(self, task_id: str | None = None, state: str | None = None,
                     meta: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.states.append((state, meta))


def test_progress_reports_running_steps_and_finishes_at_the_total() -> None:
    task = FakeTask()
    progress.start(task, 4, "Preparing")
    progress.update(task, 2, 4, "Half way")
    progress.update(task, 9, 4, "Overshoot")
    assert task.states == [
        ("RUNNING", {"current": 0, "total": 4, "status": "Preparing"}),
        ("RUNNING", {"current": 2, "total": 4, "status": "Half way"}),
        ("RUNNING", {"current": 4, "total": 4, "status": "Overshoot"}),
    ]
    assert progress.finish(task, "Done") == {"current": 4, "total": 4, "status": "Done"}
    assert progress.finish(FakeTask(), "Quick") == {"current": 1, "total": 1, "status": "Quick"}


def test_progress_refuses_nonsense_and_fail_raises_our_errors() -> None:
    with pytest.raises(InvalidArgument):
        progress.progress_meta(0, 0, "x")
    with pytest.raises(InvalidArgument):
        progress.progress_meta(True, 3, "x")
    with pytest.raises(BackendError, match="broken"):
        progress.fail(FakeTask(), "broken")
    with pytest.raises(InvalidState, match="busy"):
        progress.fail(FakeTask(), "busy", InvalidState)


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (None, {"state": "PENDING", "current": 0, "total": 1}),
        ({"status": "PENDING", "result": None}, {"state": "PENDING"}),
        ({"status": "STARTED", "result": {"pid": 3}},
         {"state": "RUNNING", "current": 0, "total": 1, "status": "Starting job"}),
        ({"status": "RUNNING", "result": {"current": 2, "total": 5, "status": "Copying"}},
         {"state": "RUNNING", "current": 2, "total": 5, "status": "Copying"}),
        ({"status": "SUCCESS", "result": {"current": 5, "total": 5, "status": "Done"}},
         {"state": "SUCCESS", "current": 5, "total": 5, "status": "Done",
          "result": {"current": 5, "total": 5, "status": "Done"}}),
        ({"status": "SUCCESS", "result": 42},
         {"state": "SUCCESS", "current": 1, "total": 1, "result": 42}),
        ({"status": "FAILURE", "result": InvalidState("VM web1 is running")},
         {"state": "FAILURE", "status": "VM web1 is running", "error": "InvalidState"}),
        ({"status": "FAILURE", "result": KeyError("pool")},
         {"state": "FAILURE", "status": "KeyError: 'pool'", "error": "KeyError"}),
        ({"status": "REVOKED", "result": None},
         {"state": "FAILURE", "status": "The task was revoked"}),
    ],
)
def test_task_status_follows_pvc_states(meta: dict[str, Any] | None,
                                        expected: dict[str, Any]) -> None:
    body = status.task_status(meta)
    assert {k: body[k] for k in expected} == expected
    assert isinstance(body["status"], str)
    assert isinstance(body["current"], int) and isinstance(body["total"], int)
    assert ("result" in body) == (body["state"] == "SUCCESS")


def test_task_listing_has_pvc_shape_with_literal_arguments() -> None:
    active = {"pvcworkerd@hv1": [{"id": "e15be83e", "name": "osd.add", "args": ["hv1", 3],
                                  "kwargs": {"weight": 1.0}, "hostname": "pvcworkerd@hv1"}]}
    scheduled = {"pvcworkerd@hv2": [{"eta": "2024-01-01T00:00:00", "priority": 6,
                                     "request": {"id": "0badf00d", "name": "vm.flush_locks",
                                                 "args": ["web1"], "kwargs": {}}}]}
    body = status.task_listing({"active": active, "reserved": None, "scheduled": scheduled})
    assert body == {
        "active": {"pvcworkerd@hv1": [{"id": "e15be83e", "name": "osd.add",
                                       "args": "['hv1', 3]", "kwargs": "{'weight': 1.0}"}]},
        "reserved": {},
        "scheduled": {"pvcworkerd@hv2": [{"id": "0badf00d", "name": "vm.flush_locks",
                                          "args": "['web1']", "kwargs": "{}"}]},
    }
