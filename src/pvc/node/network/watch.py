"""ZooKeeper watches on the client networks: a network created, changed or removed, its
static reservations added or removed, its ACLs changed. Each change wakes every
subscriber (they then read what they need); kazoo's threads never do more than that."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pvc.state.store import Store


class NetworkWatch:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscribers: list[Callable[[], None]] = []
        self._watched: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def subscribe(self, wake: Callable[[], None]) -> None:
        self._subscribers.append(wake)

    def start(self) -> None:
        self.store.zk.ChildrenWatch(self.store.path("root.networks"), self._on_children)

    def stop(self) -> None:
        self._stopped = True

    def _wake(self) -> None:
        for wake in self._subscribers:
            wake()

    def _on_children(self, children: list[str]) -> bool | None:  # kazoo thread
        if self._stopped:
            return False
        with self._lock:
            for vni in set(children) - self._watched:
                self._watched.add(vni)
                self._watch(vni)
        self._wake()
        return None

    def _watch(self, vni: str) -> None:
        zk = self.store.zk
        zk.DataWatch(self.store.path("network", vni=vni), self._on_network(vni))
        zk.DataWatch(self.store.path("network.acls", vni=vni), self._on_part)
        zk.ChildrenWatch(self.store.path("network.reservations", vni=vni), self._on_part,
                         send_event=False)

    def _on_network(self, vni: str) -> Callable[[bytes | None, Any], bool | None]:
        def changed(data: bytes | None, stat: Any) -> bool | None:  # kazoo thread
            if self._stopped:
                return False
            self._wake()
            if data is None:  # removed: a network made again with this VNI is watched anew
                with self._lock:
                    self._watched.discard(vni)
                return False
            return None
        return changed

    def _on_part(self, *args: Any) -> bool | None:  # kazoo thread
        if self._stopped:
            return False
        self._wake()
        return None
