"""The one way PVC processes connect to ZooKeeper.

Hosts are tried in the order given (the caller puts its own node's server first): a node
talks to its local ensemble member and only falls back to the others, so a dead remote
server never costs a start-up or a reconnect a connect timeout.
"""

from __future__ import annotations

from kazoo.client import KazooClient


def client(hosts: str, session_timeout: float) -> KazooClient:
    return KazooClient(
        hosts=hosts,
        timeout=session_timeout,
        randomize_hosts=False,
        connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1.0},
        command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 0.5},
    )
