"""Flush and ready: a node's domain state as intent for its daemon."""

from __future__ import annotations

from pvc.common import names
from pvc.common.errors import InvalidArgument, InvalidState, NotFound
from pvc.state.store import Store

ACTIONS = ("flush", "ready")


def set_domain_state(store: Store, node: str, state: str) -> str:
    names.node_name(node)
    if state not in ACTIONS:
        raise InvalidArgument(f"Invalid domain state {state!r}: use flush or ready")
    try:
        current, version = store.read_versioned("node.domain_state", node=node)
        daemon = store.read("node.daemon_state", node=node)
    except NotFound:
        raise NotFound(f"Node {node} not found.") from None
    if state == "flush":
        if current in ("flush", "flushed", "fence-flush"):
            return f"Node {node} is already flushed (or flushing)."
        new, message = "flush", f"Removing node {node} from active service."
    else:
        if current == "ready":
            return f"Node {node} is already ready."
        new, message = "unflush", f"Restoring node {node} to active service."
    if daemon != "run":
        raise InvalidState(f"Node {node} is in daemon state {daemon}; its daemon must be in "
                           "run to carry out a flush or ready")
    # a newer flush or ready replaces one in progress (the daemon sees the new value)
    store.write("node.domain_state", new, version=version, node=node)
    return message
