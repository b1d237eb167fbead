"""A Store whose reads of chosen subtrees come from an in-memory mirror that ZooKeeper
watches keep current (kazoo's TreeCache), for the API: listing 1,000 VMs is thousands of
reads, which the mirror answers from memory.

Consistency is what a ZooKeeper session gives anyway, plus read-your-writes: a commit
returns only once the mirror shows what it wrote. Until a subtree's mirror has loaded
(and while it reloads after a lost session), its reads go to ZooKeeper.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.recipe.cache import TreeCache, TreeEvent

from pvc.state.schema import CURRENT, Schema
from pvc.state.store import Store

log = logging.getLogger(__name__)
DEFAULT_ROOTS = ("/domains", "/nodes", "/indexes")
CATCH_UP_TIMEOUT = 2.0


class _Subtree:
    def __init__(self, client: KazooClient, root: str) -> None:
        self.root = root
        self.cache = TreeCache(client, root)
        self.ready = threading.Event()
        self.cache.listen(self._on_event)
        self.cache.listen_fault(lambda exc: log.warning("Mirror of %s: %r", root, exc))

    def _on_event(self, event: Any) -> None:
        if event.event_type == TreeEvent.INITIALIZED:
            self.ready.set()

    def holds(self, path: str) -> bool:
        return self.ready.is_set() and (path == self.root or path.startswith(self.root + "/"))


class MirroredStore(Store):
    def __init__(self, client: KazooClient, roots: Iterable[str] = DEFAULT_ROOTS,
                 schema: Schema = CURRENT) -> None:
        super().__init__(client, schema)
        self._subtrees = [_Subtree(client, r) for r in roots]
        client.add_listener(self._on_session)

    def start(self) -> None:
        for sub in self._subtrees:
            sub.cache.start()

    def close(self) -> None:
        for sub in self._subtrees:
            sub.cache.close()

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(s.ready.wait(max(deadline - time.monotonic(), 0)) for s in self._subtrees)

    def _on_session(self, state: str) -> None:  # kazoo thread: never block
        if state == KazooState.LOST:
            # the caches reload after a new session; read ZooKeeper until they have
            for sub in self._subtrees:
                sub.ready.clear()

    def _mirror(self, path: str) -> TreeCache | None:
        for sub in self._subtrees:
            if sub.holds(path):
                return sub.cache
        return None

    # -- reads ----------------------------------------------------------------
    def fetch_many(self, paths: list[str]) -> list[tuple[bytes, Any] | None]:
        out: list[tuple[bytes, Any] | None] = [None] * len(paths)
        missing: list[int] = []
        for i, path in enumerate(paths):
            cache = self._mirror(path)
            if cache is None:
                missing.append(i)
                continue
            node = cache.get_data(path)
            if node is not None and node.stat is not None:
                out[i] = (node.data or b"", node.stat)
        if missing:
            for i, found in zip(missing, super().fetch_many([paths[i] for i in missing]),
                                strict=True):
                out[i] = found
        return out

    def children_of(self, path: str) -> list[str] | None:
        cache = self._mirror(path)
        if cache is None:
            return super().children_of(path)
        kids = cache.get_children(path)
        return None if kids is None else list(kids)

    # -- writes: return once the mirror shows them ------------------------------
    def commit(self, ops: list[tuple[str, str, bytes, int]],
               ephemeral: set[str] | None = None) -> list[Any]:
        """Commit, then wait (at most CATCH_UP_TIMEOUT) until the mirror shows each written
        key as written, or as changed again since (by a daemon that answered at once, say:
        the mirror may never show the value written)."""
        results = super().commit(ops, ephemeral)
        # every op of one transaction carries its zxid; a set's result tells it
        zxid = max((r.mzxid for r in results if hasattr(r, "mzxid")), default=None)
        final: dict[str, bytes | None] = {}
        for op, path, data, _ in ops:
            if op in ("create", "set"):
                final[path] = data
            elif op == "delete":
                final[path] = None
        pending = {p: d for p, d in final.items() if self._mirror(p) is not None}
        deadline = time.monotonic() + CATCH_UP_TIMEOUT
        while pending and time.monotonic() < deadline:
            for path, wanted in list(pending.items()):
                if self._shows(path, wanted, zxid):
                    del pending[path]
            if pending:
                time.sleep(0.002)
        if pending:
            log.warning("The mirror has not caught up with %d written keys after %.0f s",
                        len(pending), CATCH_UP_TIMEOUT)
        return results

    def _shows(self, path: str, wanted: bytes | None, zxid: int | None) -> bool:
        """Whether the mirror shows `path` as written (`wanted`; None: deleted) by the
        transaction `zxid` (None: not known), or as changed after it."""
        cache = self._mirror(path)
        if cache is None:  # not mirrored (any more): reads go to ZooKeeper
            return True
        node = cache.get_data(path)
        stat = None if node is None else node.stat
        if stat is None:
            return wanted is None
        if wanted is not None and (node.data or b"") == wanted:
            return True
        if zxid is not None:  # written again since, or (deleted) created again since
            return bool(stat.mzxid > zxid if wanted is None else stat.mzxid >= zxid)
        return wanted is not None and stat.version > 0  # a create, changed since
