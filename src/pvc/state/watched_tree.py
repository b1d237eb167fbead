"""An in-memory copy of one ZooKeeper subtree, kept current by watches.

It loads with `multiRead` and watches with `setWatches` (`pvc.state.bulk`): 10,000 VMs
load in seconds, where one read per znode (kazoo's TreeCache) took minutes.

One worker thread does all reading. Watch events only queue the paths to read again; the
worker reads them in bulk, applies what it read, and watches them again with
`setWatches(z)`, `z` taken before the read: ZooKeeper fires at once for anything changed
after `z`, so no change between the read and the new watch is missed, and every change
leads to a read made after it. A lost connection (kazoo forgets every watch) is made good
on reconnect with one `setWatches` from the last zxid seen before the loss, plus a new read
of whatever the worker failed to read meanwhile; a lost session reloads the whole tree.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, WatchedEvent

from pvc.state import bulk

log = logging.getLogger(__name__)

Node = tuple[bytes, Any]  # data, ZnodeStat

_RELOAD = "reload"
_RESYNC = "resync"
_STOP = "stop"


def _join(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


class WatchedTree:
    def __init__(self, client: KazooClient, root: str) -> None:
        self.client = client
        self.root = root
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._nodes: dict[str, Node] = {}
        self._children: dict[str, set[str]] = {}
        # a number that changes whenever anything under a child of the root changes
        self._versions: dict[str, int] = {}
        self._counter = itertools.count(1)
        self._queue: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._lost_at_zxid: int | None = None  # the last zxid seen before a lost connection
        self._drops = 0
        self._session_lost = False
        self._thread = threading.Thread(target=self._run, name=f"mirror{root}", daemon=True)

    # -- life -----------------------------------------------------------------
    def start(self) -> None:
        self.client.add_listener(self._on_state)
        self._queue.put((_RELOAD, ""))
        self._thread.start()

    def close(self) -> None:
        self.client.remove_listener(self._on_state)
        self._queue.put((_STOP, ""))
        self._thread.join(10)

    # -- reads (any thread) ---------------------------------------------------------
    def covers(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + "/")

    def holds(self, path: str) -> bool:
        """Whether reads of `path` come from here: it is under the root, and loaded."""
        return self.ready.is_set() and self.covers(path)

    def get(self, path: str) -> Node | None:
        return self._nodes.get(path)

    def version(self, path: str) -> int | None:
        """A number that changes whenever anything at or under the root's child that holds
        `path` changes (a VM's every key, say); None for the root itself or outside it."""
        top = self._top(path)
        return None if top is None else self._versions.get(top, 0)

    def _top(self, path: str) -> str | None:
        rest = path[len(self.root):]
        if not path.startswith(self.root) or not rest.startswith("/") or rest == "/":
            return None
        return rest[1:].split("/", 1)[0]

    def _touch(self, path: str) -> None:
        top = self._top(path)
        if top is not None:
            self._versions[top] = next(self._counter)

    def children(self, path: str) -> list[str] | None:
        with self._lock:
            names = self._children.get(path)
            return None if names is None else list(names)

    # -- kazoo's threads: never block --------------------------------------------------
    def _on_state(self, state: str) -> None:
        if state == KazooState.SUSPENDED:
            self._drops += 1
            if self._lost_at_zxid is None:  # the earliest loss not yet made good
                self._lost_at_zxid = self.client.last_zxid
        elif state == KazooState.LOST:
            self._session_lost = True
            self.ready.clear()  # reads go to ZooKeeper until reloaded
        elif state == KazooState.CONNECTED:
            if self._session_lost:
                self._session_lost = False
                self._queue.put((_RELOAD, ""))
            elif self._lost_at_zxid is not None:
                self._queue.put((_RESYNC, ""))

    def _on_data(self, event: WatchedEvent) -> None:
        if event.type != EventType.NONE:  # NONE: the connection dropped (see _on_state)
            self._queue.put(("data", event.path))

    def _on_children(self, event: WatchedEvent) -> None:
        if event.type != EventType.NONE:
            self._queue.put(("children", event.path))

    # -- the worker -------------------------------------------------------------------
    def _run(self) -> None:
        pending: set[tuple[str, str]] = set()
        reload = resync = False
        while True:
            items = [self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get())
            for kind, path in items:
                if kind == _STOP:
                    return
                if kind == _RELOAD:
                    reload, pending = True, set()
                elif kind == _RESYNC:
                    resync = True
                elif not reload:
                    pending.add((kind, path))
            try:
                if reload:
                    self._load_all()
                    reload = resync = False
                    continue
                if resync:
                    self._rewatch_all()
                    resync = False
                if pending:
                    self._refresh(sorted(pending))
                    pending = set()
            except (KazooException, KazooTimeoutError) as exc:
                # the connection dropped: what is pending is read after the reconnect
                log.info("Mirror of %s: %r; retrying after the reconnect", self.root, exc)

    def _load_all(self) -> None:
        with self._lock:
            self._nodes.clear()
            self._children.clear()
            self._versions.clear()  # the counter goes on: no number is used twice
        began = time.monotonic()
        self.client.exists(self.root)  # its answer tells the zxid the load starts from
        self._load([self.root])
        if self.root in self._nodes:
            self.ready.set()
            log.info("Mirror of %s loaded: %d znodes in %.2f s", self.root, len(self._nodes),
                     time.monotonic() - began)
        else:  # not created yet: reads go to ZooKeeper; load once it exists
            self.ready.clear()
            self.client.exists(self.root, watch=self._on_root_created)

    def _on_root_created(self, event: WatchedEvent) -> None:
        if event.type != EventType.NONE:
            self._queue.put((_RELOAD, ""))

    def _load(self, roots: list[str]) -> None:
        """Read the subtrees under `roots`, a level at a time, then watch all of it."""
        since = self.client.last_zxid
        level, loaded = roots, []
        while level:
            answers = bulk.read_many(self.client, [(k, p) for p in level
                                                   for k in ("data", "children")])
            nxt: list[str] = []
            for i, path in enumerate(level):
                data, names = answers[2 * i], answers[2 * i + 1]
                if isinstance(data, Exception) or isinstance(names, Exception):
                    self._remove(path)  # gone meanwhile: the parent's watch says so too
                    continue
                self._put(path, data, names)
                loaded.append(path)
                nxt.extend(_join(path, n) for n in names)
            level = nxt
        self._watch(loaded, since)

    def _refresh(self, wanted: list[tuple[str, str]]) -> None:
        since = self.client.last_zxid
        answers = bulk.read_many(self.client, wanted)
        new: list[str] = []
        data_paths, child_paths = [], []
        for (kind, path), answer in zip(wanted, answers, strict=True):
            if isinstance(answer, NoNodeError):
                self._remove(path)
                if path == self.root:  # deleted: reads go to ZooKeeper until it is back
                    self.ready.clear()
                    self._queue.put((_RELOAD, ""))
            elif isinstance(answer, Exception):
                raise answer
            elif kind == "data":
                if self._set_data(path, answer):
                    data_paths.append(path)
            else:
                added = self._set_children(path, answer)
                if added is not None:
                    child_paths.append(path)
                    new.extend(added)
        bulk.set_watches(self.client, since, {p: self._on_data for p in data_paths},
                         {p: self._on_children for p in child_paths})
        if new:
            self._load(new)

    def _rewatch_all(self) -> None:
        """After a reconnect: watch everything again from the zxid seen before the loss
        (ZooKeeper fires at once for whatever changed since)."""
        since, drops = self._lost_at_zxid, self._drops
        if since is None:
            return
        with self._lock:
            paths = list(self._nodes)
        self._watch(paths, since)
        if self._drops == drops:  # no new loss meanwhile (that one resyncs on its own)
            self._lost_at_zxid = None

    def _watch(self, paths: list[str], since: int) -> None:
        bulk.set_watches(self.client, since, dict.fromkeys(paths, self._on_data),
                         dict.fromkeys(paths, self._on_children))

    # -- applying what was read -----------------------------------------------------------
    def _listed(self, path: str) -> bool:
        if path == self.root:
            return True
        parent, _, name = path.rpartition("/")
        return name in self._children.get(parent or "/", ())

    def _put(self, path: str, node: Node, names: list[str]) -> None:
        with self._lock:
            if self._listed(path):
                self._nodes[path] = (node[0] or b"", node[1])
                self._children[path] = set(names)
                self._touch(path)

    def _set_data(self, path: str, node: Node) -> bool:
        with self._lock:
            if path not in self._nodes:
                return False  # removed meanwhile: no longer ours to watch
            self._nodes[path] = (node[0] or b"", node[1])
            self._touch(path)
            return True

    def _set_children(self, path: str, names: list[str]) -> list[str] | None:
        """Record the new children of `path`; the paths of those new to the mirror."""
        with self._lock:
            if path not in self._nodes:
                return None
            old, now = self._children.get(path, set()), set(names)
            self._children[path] = now
            self._touch(path)
            for gone in old - now:
                self._remove_locked(_join(path, gone))
            return [_join(path, n) for n in sorted(now - old)]

    def _remove(self, path: str) -> None:
        with self._lock:
            self._remove_locked(path)

    def _remove_locked(self, path: str) -> None:
        self._touch(path)
        stack = [path]
        while stack:
            p = stack.pop()
            self._nodes.pop(p, None)
            stack.extend(_join(p, n) for n in self._children.pop(p, ()))
        if path != self.root:
            parent, _, name = path.rpartition("/")
            self._children.get(parent or "/", set()).discard(name)
