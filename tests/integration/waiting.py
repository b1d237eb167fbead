"""Waiting in tests: poll a check until it holds, or fail naming what never came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(what: str, check: Callable[[], Any], timeout: float = 30.0,
               interval: float = 0.05) -> Any:
    """The first true value of `check()`, asked every `interval` s; AssertionError naming
    `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
