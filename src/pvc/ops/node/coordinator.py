"""Primary handover requests (`node primary` / `node secondary`).

The API never moves the primary itself: it writes `/config/primary_request` and the node
daemons act on it. `relinquish` names the primary that must step down, `target` the only
coordinator that may take over while the request is unexpired (empty: any coordinator in
`run` other than the relinquishing one); the new primary clears the request.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pvc.common import names
from pvc.common.errors import Conflict, InvalidArgument, InvalidState, NotFound
from pvc.ops.node.records import node_names
from pvc.state.store import Store

COORDINATOR_ACTIONS = ("primary", "secondary")
REQUEST_TTL = 30.0
NO_PRIMARY = "none"


def primary_request(relinquish: str, target: str, now: float) -> dict[str, Any]:
    return {"relinquish": relinquish, "target": target, "expires": now + REQUEST_TTL}


def _other_running_coordinators(store: Store, node: str) -> list[str]:
    others = [n for n in node_names(store) if n != node]
    values = store.read_many(
        (key, {"node": n}) for n in others for key in ("node", "node.daemon_state")
    )
    return [
        n
        for i, n in enumerate(others)
        if values[2 * i] == "coordinator" and values[2 * i + 1] == "run"
    ]


# Read-check-write rounds of one request: every keepalive rewrites the node's daemon
# state (its version moves each second), which the request's transaction checks.
ATTEMPTS = 5


def set_coordinator_state(store: Store, node: str, state: str, now: float | None = None) -> str:
    """Ask for `node` to become primary or secondary. Returns the operator message.

    The request is written only if the node is still in run and the primary unchanged
    when it commits; a keepalive that rewrote the same state meanwhile is no reason to
    refuse: the request is read and checked again."""
    names.node_name(node)
    if state not in COORDINATOR_ACTIONS:
        raise InvalidArgument(
            f"Invalid coordinator state {state!r}: use one of {', '.join(COORDINATOR_ACTIONS)}"
        )
    for _ in range(ATTEMPTS - 1):
        with contextlib.suppress(Conflict):
            return _request(store, node, state, now)
    return _request(store, node, state, now)  # the last: its Conflict is the answer


def _request(store: Store, node: str, state: str, now: float | None) -> str:
    try:
        mode = store.read("node", node=node)
        daemon = store.read_versioned("node.daemon_state", node=node)
    except NotFound:
        raise NotFound(f"Node {node} not found.") from None
    if mode != "coordinator":
        raise InvalidState(f"Node {node} is not a coordinator (it is a {mode}).")
    if daemon.value != "run":
        raise InvalidState(
            f"Node {node} is not in daemon state run (it is {daemon.value}); "
            "only a running coordinator can change coordinator state."
        )
    primary = store.read_versioned("config.primary_node")
    request = store.read_versioned("config.primary_request")
    now = time.time() if now is None else now

    if state == "primary":
        if primary.value == node:
            return f"Node {node} is already in primary coordinator state."
        current = primary.value if primary.value not in ("", NO_PRIMARY) else ""
        wanted = primary_request(current, node, now)
    else:
        if primary.value != node:
            return f"Node {node} is already in secondary coordinator state."
        if not _other_running_coordinators(store, node):
            raise InvalidState(
                f"Node {node} cannot become secondary: no other coordinator is in daemon "
                "state run to take over."
            )
        wanted = primary_request(node, "", now)

    (
        store.txn()
        .check("node.daemon_state", daemon.version, node=node)
        .check("config.primary_node", primary.version)
        .set("config.primary_request", wanted, request.version)
        .commit()
    )
    return f"Setting node {node} in {state} coordinator state."
