"""What `wait=true` waits for: the outcome the node daemons report, not just the intent."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pvc.common import vm
from pvc.common.errors import BackendError, InvalidState, Unavailable
from pvc.state.store import Store

POLL = 0.1
Cancelled = Callable[[], bool]


def never() -> bool:
    return False


def poll(check: Callable[[], bool], timeout: float, what: str,
         cancelled: Cancelled = never) -> None:
    """Until `check()` holds; InvalidState after `timeout` s, Unavailable as soon as
    `cancelled()` (the API is stopping because the primary moves: the change was asked
    for already, only the wait for its outcome ends)."""
    deadline = time.monotonic() + timeout
    while not check():
        if cancelled():
            raise Unavailable(f"This API stopped waiting for {what}: it is stopping while the "
                              "primary moves to another node. The change was requested; ask "
                              "again in a moment to see its outcome")
        if time.monotonic() > deadline:
            raise InvalidState(f"Timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)


def running_on(store: Store, node: str, uuid: str) -> bool:
    if not node:
        return False
    stats = store.read("node.stats", default={}, node=node) or {}
    return uuid in (stats.get("running_domains") or [])


def _status(store: Store, uuid: str) -> dict[str, Any]:
    return vm.status_of(store.read("domain.status", default={}, domain=uuid))


def vm_settled(store: Store, uuid: str, wanted: str, target: str | None = None,
               started: int = 0) -> bool:
    """True once the VM reached `wanted` (start/stop/disable) where it should be, and for a
    start, once the node acknowledged request number `started`; a failure raises with the
    node's reason."""
    st = _status(store, uuid)
    if st["state"] == "fail":
        raise BackendError(f"The VM failed: {st['failed_reason'] or 'no reason given'}")
    if target and st["node"] != target:
        return False
    if st["state"] != wanted or int(st.get("started", 0)) < started:
        return False
    running = running_on(store, st["node"], uuid)
    return running if wanted == "start" else not running


def migration_over(store: Store, uuid: str, target: str) -> bool:
    """True once a migration has ended with the VM running on `target`; a migration that
    ended anywhere else (the source put the VM back) raises with the node's reason."""
    st = _status(store, uuid)
    if st["state"] in ("migrate", "unmigrate"):
        return False
    if st["node"] != target:
        raise BackendError(f"The migration to {target} failed; the VM stays on {st['node']}: "
                           f"{st['failed_reason'] or 'no reason given'}")
    return vm_settled(store, uuid, "start", target) if st["state"] == "start" else \
        vm_settled(store, uuid, st["state"], target)


def wait_vm(store: Store, uuid: str, requested: str, timeout: float,
            target: str | None = None, cancelled: Cancelled = never) -> None:
    """After a state or node change: until the VM runs (start, restart, migrations) or is
    off (shutdown, stop, disable)."""
    if requested in ("migrate", "unmigrate", "move") and target:
        poll(lambda: migration_over(store, uuid, target), timeout, f"the VM to {requested}",
             cancelled)
        return
    wanted = {"start": "start", "restart": "start", "migrate": "start", "unmigrate": "start",
              "move": "start", "shutdown": "stop", "stop": "stop",
              "disable": "disable"}[requested]
    # a start is done when the node says so: a QEMU that dies while starting shows up as
    # running for a moment, which proves nothing
    seq = int((_status(store, uuid)["intent"] or {}).get("seq", 0)) \
        if requested in ("start", "restart") else 0
    poll(lambda: vm_settled(store, uuid, wanted, target, seq), timeout,
         f"the VM to {requested}", cancelled)


def wait_domain_state(store: Store, node: str, timeout: float,
                      cancelled: Cancelled = never) -> str:
    """Until a flush or ready is over: the node's domain state is flushed or ready."""
    result: list[str] = []

    def done() -> bool:
        state = str(store.read("node.domain_state", default="", node=node))
        result[:] = [state]
        return state in ("flushed", "ready")

    poll(done, timeout, f"node {node} to finish its flush/ready", cancelled)
    return result[0]
