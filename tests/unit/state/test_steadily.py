"""connect.steadily: a start-up step run again while ZooKeeper drops the connection."""

from __future__ import annotations

import pytest
from kazoo.exceptions import ConnectionLoss, NoNodeError, OperationTimeoutError

from pvc.common.errors import BackendError
from pvc.state import connect


def test_a_step_is_run_again_until_the_connection_holds() -> None:
    calls: list[str] = []

    def step(name: str) -> str:
        calls.append(name)
        if len(calls) == 1:
            raise ConnectionLoss()
        if len(calls) == 2:
            raise OperationTimeoutError()
        return f"registered {name}"

    assert connect.steadily("Registering", 30, step, "hv1") == "registered hv1"
    assert calls == ["hv1", "hv1", "hv1"]


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        raise NoNodeError()

    with pytest.raises(NoNodeError):
        connect.steadily("Registering", 30, step)
    assert calls == [1]


def test_a_connection_that_never_holds_ends_in_an_error_naming_the_step() -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        raise ConnectionLoss()

    with pytest.raises(BackendError, match=r"Registering node hv2: ZooKeeper did not answer in 1 s"):
        connect.steadily("Registering node hv2", 1, step)
    assert len(calls) >= 2
