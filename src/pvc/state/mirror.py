"""A Store whose reads of chosen subtrees come from an in-memory mirror that ZooKeeper
watches keep current (`pvc.state.watched_tree`), for the API: listing 10,000 VMs is tens of
thousands of reads, which the mirror answers from memory.

Consistency is what a ZooKeeper session gives anyway, plus read-your-writes: a commit
returns only once the mirror shows what it wrote (or something newer). Until a subtree's
mirror has loaded (and while it reloads after a lost session), its reads go to ZooKeeper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from kazoo.client import KazooClient

from pvc.state.schema import CURRENT, Schema
from pvc.state.store import Store
from pvc.state.watched_tree import WatchedTree

log = logging.getLogger(__name__)
DEFAULT_ROOTS = ("/domains", "/nodes", "/indexes")
CATCH_UP_TIMEOUT = 2.0
# A read of this many keys or more waits (up to LOAD_WAIT s) for a mirror still loading:
# loading 10,000 VMs takes seconds, reading their keys one by one from ZooKeeper longer.
BULK_READ = 500
LOAD_WAIT = 15.0


class MirroredStore(Store):
    def __init__(self, client: KazooClient, roots: Iterable[str] = DEFAULT_ROOTS,
                 schema: Schema = CURRENT, read_timeout: float | None = None) -> None:
        super().__init__(client, schema, read_timeout)
        self._trees = [WatchedTree(client, r) for r in roots]

    def start(self) -> None:
        for tree in self._trees:
            tree.start()

    def close(self) -> None:
        for tree in self._trees:
            tree.close()

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(t.ready.wait(max(deadline - time.monotonic(), 0)) for t in self._trees)

    def _await_loading(self, paths: list[str]) -> None:
        for tree in self._trees:
            if not tree.ready.is_set() and any(tree.covers(p) for p in paths):
                tree.ready.wait(LOAD_WAIT)

    def _mirror(self, path: str) -> WatchedTree | None:
        for tree in self._trees:
            if tree.holds(path):
                return tree
        return None

    # -- reads ----------------------------------------------------------------
    def fetch_many(self, paths: list[str]) -> list[tuple[bytes, Any] | None]:
        if len(paths) >= BULK_READ:
            self._await_loading(paths)
        out: list[tuple[bytes, Any] | None] = [None] * len(paths)
        missing: list[int] = []
        for i, path in enumerate(paths):
            cache = self._mirror(path)
            if cache is None:
                missing.append(i)
                continue
            out[i] = cache.get(path)
        if missing:
            for i, found in zip(missing, super().fetch_many([paths[i] for i in missing]),
                                strict=True):
                out[i] = found
        return out

    def children_of(self, path: str) -> list[str] | None:
        cache = self._mirror(path)
        if cache is None:
            return super().children_of(path)
        return cache.children(path)

    def object_version(self, path: str) -> int | None:
        tree = self._mirror(path)
        return None if tree is None else tree.version(path)

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
        node = cache.get(path)
        if node is None:
            return wanted is None
        data, stat = node
        if wanted is not None and data == wanted:
            return True
        if zxid is not None:  # written again since, or (deleted) created again since
            return bool(stat.mzxid > zxid if wanted is None else stat.mzxid >= zxid)
        return wanted is not None and stat.version > 0  # a create, changed since
