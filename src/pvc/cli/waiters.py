"""Waiting on the cluster: node state transitions and following a node's log.

Both poll the API. During a primary handover the API itself moves to the new primary,
so a poll that cannot reach it is expected and retried until the deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pvc.client import ApiClient
from pvc.common.errors import BackendError, InvalidState, Unavailable

TRANSITIONAL = {
    "coordinator_state": ("takeover", "relinquish"),
    "domain_state": ("flush", "unflush"),
}


def wait_for_node_state(
    api: ApiClient,
    node: str,
    field: str,
    target: str,
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    """Poll `GET /node/{node}` until `field` equals `target` (and so left its transition).

    Unreachable-API and 5xx answers are tolerated until `timeout`; a 404 or any other
    refusal ends the wait at once. Raises InvalidState (or Unavailable if the API was
    last unreachable) when the deadline passes.
    """
    deadline = clock() + timeout
    last: str | None = None
    last_error: Unavailable | BackendError | None = None
    while True:
        try:
            value = api.node_info(node).get(field)
            last, last_error = (str(value) if value is not None else None), None
            if last == target:
                return
        except (Unavailable, BackendError) as exc:
            last_error = exc
        if clock() >= deadline:
            break
        sleep(interval)
    if last_error is not None and isinstance(last_error, Unavailable):
        raise Unavailable(
            f"Timed out after {timeout:.0f} s waiting for node {node} to reach "
            f"{field.replace('_', ' ')} {target}: {last_error.message}"
        )
    raise InvalidState(
        f"Timed out after {timeout:.0f} s waiting for node {node} to reach "
        f"{field.replace('_', ' ')} {target} (it is {last or 'unknown'})"
    )


class LogFollower:
    """Turns successive snapshots of a log's last lines into the lines that are new.

    Each snapshot is the tail of the same growing log. The follower remembers the last
    few lines it has seen and finds where they end in the next snapshot; what comes after
    is new. If they cannot be found (more lines arrived than a snapshot holds, or the log
    was reset), the whole snapshot counts as new.
    """

    ANCHOR = 20

    def __init__(self) -> None:
        self._anchor: list[str] = []

    def feed(self, snapshot: Sequence[str]) -> list[str]:
        lines = list(snapshot)
        if not self._anchor:
            new = lines
        else:
            new = lines
            anchor = self._anchor
            # Search from the end so repeated lines resolve to the newest position.
            for end in range(len(lines), len(anchor) - 1, -1):
                if lines[end - len(anchor) : end] == anchor:
                    new = lines[end:]
                    break
            else:
                # The anchor may be longer than the overlap: try its shorter tails.
                for size in range(min(len(anchor), len(lines)) - 1, 0, -1):
                    if lines[:size] == anchor[-size:]:
                        new = lines[size:]
                        break
        if lines:
            self._anchor = lines[-self.ANCHOR :]
        return new


LOG_LINES = 1000  # lines a log command shows by default
FOLLOW_LINES = 10  # ... and with --follow
FOLLOW_WINDOW = 200  # lines fetched per poll while following


def show_log(fetch: Callable[[int], list[str]], lines: int | None, follow: bool,
             sleep: Callable[[float], None], interval: float,
             echo: Callable[[str], None], info: Callable[[str], None]) -> None:
    """Print the last lines of a log (a node's or a VM console's); with `follow`, keep
    printing new ones until Ctrl-C, riding out an API that moves between nodes."""
    count = lines if lines is not None else (FOLLOW_LINES if follow else LOG_LINES)
    first = fetch(count)
    for line in first:
        echo(line)
    if not follow:
        return
    follower = LogFollower()
    follower.feed(first)
    unreachable = False
    try:
        while True:
            sleep(interval)
            try:
                snapshot = fetch(max(count, FOLLOW_WINDOW))
            except Unavailable as exc:
                if not unreachable:
                    info(f"(waiting for the API: {exc.message})")
                unreachable = True
                continue
            unreachable = False
            for line in follower.feed(snapshot):
                echo(line)
    except KeyboardInterrupt:
        return
