"""The one way PVC processes connect to ZooKeeper.

Hosts are tried in the order given (the caller puts its own node's server first): a node
talks to its local ensemble member and only falls back to the others, so a dead remote
server never costs a start-up or a reconnect a connect timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry, RetryFailedError

from pvc.common.errors import BackendError

T = TypeVar("T")


def client(hosts: str, session_timeout: float) -> KazooClient:
    return KazooClient(
        hosts=hosts,
        timeout=session_timeout,
        randomize_hosts=False,
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0},
        command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 0.5},
    )


def steadily(what: str, deadline: float, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` again, from the start, while ZooKeeper drops the connection or times
    out (a loaded ensemble while a daemon starts), until `deadline` seconds have passed;
    `fn` must be safe to run again. Then a BackendError naming `what`."""
    retry = KazooRetry(max_tries=-1, delay=0.5, backoff=1.5, max_delay=5.0,
                       deadline=deadline, ignore_expire=True)
    try:
        return cast(T, retry(fn, *args))
    except RetryFailedError as exc:
        raise BackendError(f"{what}: ZooKeeper did not answer in {deadline:.0f} s") from exc
