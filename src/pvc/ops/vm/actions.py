"""Intent for running VMs: state changes (start, restart, shutdown, stop, disable) and
placement changes (migrate, unmigrate, move). Each is one compare-and-set of the VM's
status; the node daemons carry it out."""

from __future__ import annotations

from typing import Any

from pvc.common import vm
from pvc.common.config import Config
from pvc.common.errors import InvalidArgument, InvalidState
from pvc.ops.vm import placement
from pvc.ops.vm.records import VmRecord, get_vm
from pvc.state.store import Store

BUSY = ("restart", "shutdown", "migrate", "unmigrate", "provision", "restore", "import")
# what each requested state may follow
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "start": ("start", "stop", "disable", "fail"),
    "restart": ("start",),
    "shutdown": ("start",),
    "stop": ("start", "restart", "shutdown", "stop", "disable", "fail", "migrate", "unmigrate"),
    "disable": ("start", "stop", "shutdown", "disable", "fail"),
}
MESSAGES = {
    "start": 'Starting VM "{}".',
    "restart": 'Restarting VM "{}".',
    "shutdown": 'Shutting down VM "{}".',
    "stop": 'Forcibly stopping VM "{}".',
    "disable": 'Marked VM "{}" as disabled.',
}


def _write_status(store: Store, rec: VmRecord, version: int, **changes: Any) -> None:
    store.write("domain.status", {**rec.status, **changes}, version=version, domain=rec.uuid)


def set_state(store: Store, ident: str, state: str, force: bool = False) -> str:
    if state not in vm.REQUESTABLE:
        raise InvalidArgument(f"Invalid VM state {state!r}: use one of "
                              f"{', '.join(vm.REQUESTABLE)}")
    rec = get_vm(store, ident)
    version = store.read_versioned("domain.status", domain=rec.uuid).version
    current = rec.state
    if current == state and state in ("start", "stop", "disable"):
        return f'VM "{rec.name}" is already in state {state}.'
    if current not in ALLOWED_FROM[state]:
        raise InvalidState(f'VM "{rec.name}" is in state {current}; {state} is not possible '
                           f"from it (only from {', '.join(ALLOWED_FROM[state])})")
    seq = int((rec.status["intent"] or {}).get("seq", 0)) + 1
    _write_status(store, rec, version, state=state, failed_reason="",
                  intent={"force": bool(force), "seq": seq})
    return MESSAGES[state].format(rec.name)


def _node_change(store: Store, rec: VmRecord, target: str, last_node: str, state: str,
                 force_live: bool, version: int) -> None:
    running = rec.state == "start"
    # `previous` lets the source put everything back if the migration fails
    _write_status(store, rec, version, node=target, last_node=last_node, failed_reason="",
                  state=state if running else rec.state,
                  intent={"source": rec.node, "force_live": bool(force_live),
                          "previous": {"node": rec.node,
                                       "last_node": rec.status["last_node"]}})


def _movable(rec: VmRecord) -> None:
    if rec.state in BUSY:
        raise InvalidState(f'VM "{rec.name}" is busy ({rec.state}); try again when it is done')


def migrate(store: Store, config: Config, ident: str, target: str | None = None,
            force: bool = False, force_live: bool = False) -> str:
    """Temporarily to another node; `lastnode` remembers where it came from."""
    rec = get_vm(store, ident)
    version = store.read_versioned("domain.status", domain=rec.uuid).version
    _movable(rec)
    last = rec.status["last_node"]
    if last and not force:
        raise InvalidState(f'VM "{rec.name}" has been previously migrated (from {last}); '
                           "use force to migrate it again")
    if target == rec.node:
        raise InvalidArgument(f'VM "{rec.name}" is already on node {target}')
    chosen = placement.pick_target(
        placement.node_records(store, config),
        placement.selector_for(store, config, rec.meta["node_selector"]),
        rec.memory_mib, rec.meta["node_limit"], target, rec.node, f'VM "{rec.name}"')
    _node_change(store, rec, chosen, last or rec.node, "migrate", force_live, version)
    return f'Migrating VM "{rec.name}" to node "{chosen}".'


def unmigrate(store: Store, config: Config, ident: str, force_live: bool = False) -> str:
    rec = get_vm(store, ident)
    version = store.read_versioned("domain.status", domain=rec.uuid).version
    _movable(rec)
    back = rec.status["last_node"]
    if not back:
        raise InvalidState(f'VM "{rec.name}" has not been migrated')
    placement.pick_target(placement.node_records(store, config), "mem", rec.memory_mib, [],
                          back, rec.node, f'VM "{rec.name}"')
    _node_change(store, rec, back, "", "unmigrate", force_live, version)
    return f'Unmigrating VM "{rec.name}" back to node "{back}".'


def move(store: Store, config: Config, ident: str, target: str | None = None,
         force_live: bool = False) -> str:
    """Permanently to another node; moving to the current node makes a migration final."""
    rec = get_vm(store, ident)
    version = store.read_versioned("domain.status", domain=rec.uuid).version
    _movable(rec)
    if target == rec.node:
        if not rec.status["last_node"]:
            raise InvalidArgument(f'VM "{rec.name}" is already on node {target}')
        _write_status(store, rec, version, last_node="")
        return f'Made the migration of VM "{rec.name}" to node "{target}" permanent.'
    chosen = placement.pick_target(
        placement.node_records(store, config),
        placement.selector_for(store, config, rec.meta["node_selector"]),
        rec.memory_mib, rec.meta["node_limit"], target, rec.node, f'VM "{rec.name}"')
    _node_change(store, rec, chosen, "", "migrate", force_live, version)
    return f'Permanently migrating VM "{rec.name}" to node "{chosen}".'


def node_action(store: Store, config: Config, ident: str, action: str,
                target: str | None = None, force: bool = False, force_live: bool = False) -> str:
    if action == "migrate":
        return migrate(store, config, ident, target, force, force_live)
    if action == "unmigrate":
        return unmigrate(store, config, ident, force_live)
    if action == "move":
        return move(store, config, ident, target, force_live)
    raise InvalidArgument(f"Invalid action {action!r}: use migrate, unmigrate or move")
