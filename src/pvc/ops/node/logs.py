"""The node daemon log buffer: `/logs/{node}` holds sequential chunks of log lines."""

from __future__ import annotations

from pvc.common import names
from pvc.common.errors import InvalidArgument, NotFound
from pvc.state.store import Store

DEFAULT_LINES = 1000
_BATCH = 4  # chunks read per round trip, newest first


def _chunk_order(name: str) -> tuple[int, str]:
    # Sequence suffixes are zero-padded, but compare by length first in case they grow.
    return (len(name), name)


def _lines(text: str) -> list[str]:
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def node_log(store: Store, node: str, lines: int, cap: int) -> str:
    """The last `lines` lines (at most `cap`) of the node's log, oldest first."""
    names.node_name(node)
    if lines < 1:
        raise InvalidArgument(f"Invalid number of lines {lines}: use a positive number")
    if not store.exists("node", node=node):
        raise NotFound(f"Node {node} not found.")
    wanted = min(lines, max(cap, 1))
    try:
        chunks = sorted(store.children("logs.node", node=node), key=_chunk_order)
    except NotFound:
        return ""
    gathered: list[str] = []
    end = len(chunks)
    while end > 0 and len(gathered) < wanted:
        batch = chunks[max(0, end - _BATCH) : end]
        end -= len(batch)
        texts = store.read_many(("logs.chunk", {"node": node, "chunk": c}) for c in batch)
        for text in reversed(texts):
            gathered = _lines(text if isinstance(text, str) else "") + gathered
            if len(gathered) >= wanted:
                break
    return "\n".join(gathered[-wanted:])
