"""Node health from what the node daemons publish (keepalive and daemon state).

Health plugins come later; until then a node's health says whether its daemon is alive:
100 for a node in `run` whose keepalive is fresh, lower otherwise, with one `keepalive`
detail that says why.
"""

from __future__ import annotations

from dataclasses import dataclass

KEEPALIVE_CHECK = "keepalive"
# A cluster fault's delta for a node that is dead, fenced or silent (PVC's DEAD_NODE).
DEAD_NODE_DELTA = 50
_DOWN_STATES = {"dead": "dead", "fenced": "fenced", "stop": "stopped"}
_TRANSIENT_STATES = {"init": "starting", "shutdown": "shutting down"}


@dataclass(frozen=True)
class HealthDetail:
    name: str
    health_delta: int
    message: str
    last_run: int


@dataclass(frozen=True)
class NodeHealth:
    health: int
    details: tuple[HealthDetail, ...]
    # True when the node should be running but is not (dead, fenced, or silent in `run`).
    lost: bool


def keepalive_limit(keepalive_interval: float, fence_intervals: int) -> float:
    """Seconds without a keepalive after which a node counts as silent."""
    return max(1, fence_intervals) * keepalive_interval


def node_health(daemon_state: str, keepalive: float, now: float, limit: float) -> NodeHealth:
    age = now - keepalive if keepalive > 0 else None
    fresh = age is not None and age <= limit
    last_run = int(keepalive)
    if daemon_state in _DOWN_STATES:
        delta = 100
        message = f"Node daemon is {_DOWN_STATES[daemon_state]}"
    elif not fresh:
        delta = 100
        message = (
            "No keepalive received yet"
            if age is None
            else f"No keepalive for {age:.0f} s (limit {limit:.0f} s)"
        )
    elif daemon_state in _TRANSIENT_STATES:
        delta = 50
        message = f"Node daemon is {_TRANSIENT_STATES[daemon_state]}"
    elif daemon_state == "run":
        delta = 0
        message = f"Keepalive {max(age or 0.0, 0.0):.1f} s ago"
    else:
        delta = 100
        message = f"Unknown daemon state {daemon_state!r}"
    lost = daemon_state in ("dead", "fenced") or (daemon_state == "run" and not fresh)
    detail = HealthDetail(KEEPALIVE_CHECK, delta, message, last_run)
    return NodeHealth(max(0, 100 - delta), (detail,), lost)
