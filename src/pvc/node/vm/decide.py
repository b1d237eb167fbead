"""What a node does about one VM: pure logic from the VM's record and what this node's
libvirt shows. ZooKeeper is the truth: the node a record names runs the VM, every other
node makes sure it does not. Migrations are carried out by the source alone; the target
never starts a VM that is in migration."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from pvc.common.vm import RUNNING_STATES


class Act(Enum):
    NOTHING = "nothing"
    START = "start"  # create the domain here
    RESTART = "restart"  # shut down (graceful, then forced), start, state start
    SHUTDOWN = "shutdown"  # graceful, forced after the timeout; then state stop
    FINISH_STOP = "finish-stop"  # not running: record the stop
    DESTROY = "destroy"  # hard stop of a domain that should not run (state says so)
    POWER_OFF = "power-off"  # disable: graceful (or forced) off, state stays disable
    STRAY = "stray"  # runs here but no record puts it here: destroy and report
    MIGRATE_OUT = "migrate-out"  # this is the source: move it to the record's node
    HAND_OVER = "hand-over"  # source, but not running: the target may cold-start it


@dataclass(frozen=True)
class Decision:
    act: Act
    reason: str = ""


def decide(me: str, status: dict[str, Any] | None, running: bool) -> Decision:
    """`status` None: there is no record (the VM was removed)."""
    if status is None:
        return Decision(Act.STRAY, "no record asks for it") if running else Decision(Act.NOTHING)
    state, node = status["state"], status["node"]
    source = (status.get("intent") or {}).get("source", "")
    if state in ("migrate", "unmigrate"):
        if node == me:
            return Decision(Act.NOTHING, "incoming migration")
        if source == me:
            return Decision(Act.MIGRATE_OUT) if running else Decision(Act.HAND_OVER)
        return Decision(Act.STRAY, f"runs here but is migrating {source}->{node}") if running \
            else Decision(Act.NOTHING)
    if node != me:
        return Decision(Act.STRAY, f"runs here but belongs on {node}") if running \
            else Decision(Act.NOTHING)
    if state == "start":
        return Decision(Act.NOTHING) if running else Decision(Act.START)
    if state == "restart":
        return Decision(Act.RESTART) if running else Decision(Act.START)
    if state == "shutdown":
        return Decision(Act.SHUTDOWN) if running else Decision(Act.FINISH_STOP)
    if state == "stop":
        return Decision(Act.DESTROY) if running else Decision(Act.NOTHING)
    if state == "disable":
        return Decision(Act.POWER_OFF) if running else Decision(Act.NOTHING)
    # fail, provision, restore, import, mirror: leave it be
    return Decision(Act.NOTHING)


def should_run_here(me: str, status: dict[str, Any] | None) -> bool:
    """Whether this node expects the domain running here (for fast self-healing checks)."""
    if status is None:
        return False
    if status["state"] in ("migrate", "unmigrate"):
        return bool((status.get("intent") or {}).get("source") == me or status["node"] == me)
    return bool(status["node"] == me and status["state"] in RUNNING_STATES)
