"""Primary election and handover among the coordinators.

The primary role is an ephemeral ZooKeeper node (the lease, `/locks/primary`) plus what the
holder runs (floating addresses and pvcapid). Rules that make two holders impossible:

* A node takes the lease only when it is absent, in one transaction with
  `/config/primary_node` and its own coordinator state; then it brings up its services.
* A holder deletes the lease only after its services are down and its addresses removed.
* A holder whose ZooKeeper session is suspended or lost drops its services at once,
  without waiting for ZooKeeper: the client notices a silent connection within 2/3 of
  the session timeout, while the server keeps the lease for the whole timeout.

Handover requests (`node primary X`, `node secondary X`) are intent in
`/config/primary_request`: the holder named in `relinquish` lets go; while the request is
fresh only its `target` contends (or anyone but the relinquishing node).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from pvc.common.errors import AlreadyExists, BackendError, Conflict, NotFound, PVCError
from pvc.node.primary.services import PrimaryServices
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")

# After the lease has been free this long, every coordinator contends, whatever a
# handover request said (its target may be dead).
OPEN_CONTENTION_AFTER = 3.0
# A node whose takeover failed stays out of contention this long, so another can try.
FAILED_TAKEOVER_BACKOFF = 5.0
# A coordinator whose own ZooKeeper server leads the ensemble waits this long before
# contending, so the primary and the ZooKeeper leader are usually different nodes: losing
# the ZooKeeper leader costs a leader election and restarts every session's timeout,
# which would otherwise add seconds to the failover of a primary that was both.
LEADER_HANDICAP = 0.6


class Coordinator:
    def __init__(
        self,
        store: Store,
        node: str,
        services: PrimaryServices,
        may_contend: Callable[[], bool],
        leads_ensemble: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.zk: KazooClient = store.zk
        self.node = node
        self.services = services
        self.may_contend = may_contend
        self.leads_ensemble = leads_ensemble
        self.state = "secondary"
        self.lock = threading.RLock()  # held while the state is changed and written
        self._wake = threading.Event()
        self._stopping = False
        self._connected = True
        self._free_since: float | None = None
        self._backoff_until = 0.0
        self._thread = threading.Thread(target=self._run, name="election", daemon=True)
        self._done = threading.Event()

    # -- wiring ---------------------------------------------------------
    def start(self) -> None:
        self.zk.add_listener(self._on_session)
        self.zk.DataWatch(self.store.path("lock.primary"), self._on_change)
        self.zk.DataWatch(self.store.path("config.primary_request"), self._on_change)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Relinquish if primary, then stop contending."""
        self._stopping = True
        self._wake.set()
        self._done.wait(timeout)

    def _wake_later(self, delay: float) -> None:
        timer = threading.Timer(delay, self._wake.set)
        timer.daemon = True
        timer.start()

    def _on_session(self, state: str) -> None:  # kazoo thread: never block
        self._connected = state == KazooState.CONNECTED
        self._wake.set()

    def _on_change(self, *args: Any) -> bool:  # kazoo thread: never block
        self._wake.set()
        return True

    # -- the loop ---------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                if self._step():
                    break
            except PVCError as exc:
                log.error("Coordinator: %s", exc)
            except (KazooException, KazooTimeoutError) as exc:
                log.warning("Coordinator: ZooKeeper error %r", exc)
            except Exception:  # keep electing whatever happens
                log.exception("Coordinator: unexpected error")
                time.sleep(0.5)
        self._done.set()

    def _step(self) -> bool:
        """One reconciliation; returns True when the loop should end."""
        if not self._connected or self.zk.state != KazooState.CONNECTED:
            if self.services.running:
                log.warning("ZooKeeper session suspended or lost: dropping floating addresses "
                            "and API now")
                self.services.stop(urgent=True)
                self.state = "secondary"
            return self._stopping
        lease, mine = self._lease()
        request = self._request()
        if mine:
            if self._should_release(request):
                self._relinquish()
            else:
                self._hold()
            return False
        if self.services.running:  # we lost the lease (session expired): never hold without it
            log.warning("The primary lease is no longer ours: dropping floating addresses and API")
            self.services.stop(urgent=True)
        if self.state != "secondary":
            self._set_state("secondary")
        if self._stopping:
            return True
        if lease is None:
            now = time.monotonic()
            if self._free_since is None:
                self._free_since = now
                self._mark_no_primary()
            if self._wants(request, now - self._free_since):
                self._takeover()
        else:
            self._free_since = None
        return False

    def _lease(self) -> tuple[str | None, bool]:
        try:
            data, stat = self.zk.get(self.store.path("lock.primary"))
        except NoNodeError:
            return None, False
        holder = data.decode()
        return holder, stat.ephemeralOwner == self.zk.client_id[0]

    def _request(self) -> dict[str, Any]:
        req = self.store.read("config.primary_request", default={}) or {}
        if not isinstance(req, dict) or float(req.get("expires", 0)) < time.time():
            return {}
        return req

    def _should_release(self, request: dict[str, Any]) -> bool:
        if self._stopping or not self.may_contend():
            return True
        return bool(request) and request.get("relinquish") == self.node

    def _wants(self, request: dict[str, Any], free_for: float) -> bool:
        if not self.may_contend() or time.monotonic() < self._backoff_until:
            return False
        if free_for < LEADER_HANDICAP and self.leads_ensemble():
            self._wake_later(LEADER_HANDICAP - free_for)
            return False
        if not request or free_for >= OPEN_CONTENTION_AFTER:
            return True
        target = request.get("target") or ""
        if target:
            return bool(target == self.node)
        return bool(request.get("relinquish") != self.node)

    # -- transitions --------------------------------------------------------
    def _set_state(self, state: str, extra: Callable[[Any], None] | None = None) -> None:
        with self.lock:
            self.state = state
            txn = self.store.txn().set("node.coordinator_state", state, node=self.node)
            if extra:
                extra(txn)
            txn.commit()

    def _mark_no_primary(self) -> None:
        value, version = self.store.read_versioned("config.primary_node")
        if value != "none":
            with contextlib.suppress(Conflict):
                self.store.write("config.primary_node", "none", version=version)

    def _takeover(self) -> None:
        with self.lock:
            txn = self.store.txn()
            txn.create("lock.primary", self.node, ephemeral=True)
            txn.set("config.primary_node", self.node)
            txn.set("config.primary_request", {})
            txn.set("node.coordinator_state", "takeover", node=self.node)
            try:
                txn.commit()
            except (AlreadyExists, Conflict, NotFound):
                return  # someone else was quicker
            self.state = "takeover"
        log.info("Took the primary lease; bringing up floating addresses and API")
        started = time.monotonic()
        try:
            self.services.start()
        except BackendError as exc:
            log.error("Takeover failed, releasing the primary role: %s", exc)
            self._backoff_until = time.monotonic() + FAILED_TAKEOVER_BACKOFF
            self._relinquish()
            return
        upstream = self.services.config.upstream_floating() or ""
        self._set_state("primary", lambda t: t.set("config.upstream_ip", upstream))
        self._free_since = None
        self._clear_stale_roles()
        log.info("Node %s is now primary (takeover took %.2f s)", self.node,
                 time.monotonic() - started)

    def _clear_stale_roles(self) -> None:
        """Holding the lease proves no other node is primary: a record saying otherwise
        is left by a daemon that died holding the role; correct it now rather than when
        that node is found silent."""
        for peer in self.store.children("root.nodes"):
            if peer == self.node:
                continue
            try:
                state, version = self.store.read_versioned("node.coordinator_state", node=peer)
                if state in ("primary", "takeover", "relinquish"):
                    self.store.write("node.coordinator_state", "secondary", version=version,
                                     node=peer)
                    log.info("Node %s was still recorded as %s: set to secondary", peer, state)
            except (Conflict, NotFound):
                continue

    def _hold(self) -> None:
        if not self.services.running or not self.services.healthy():
            if self.services.running:
                log.warning("A primary service died; restarting floating addresses and API")
            try:
                self.services.start()
            except BackendError as exc:
                log.error("Cannot run primary services, releasing the role: %s", exc)
                self._backoff_until = time.monotonic() + FAILED_TAKEOVER_BACKOFF
                self._relinquish()
                return
        if self.state != "primary":
            self._set_state("primary")
        # re-assert what the primary publishes, should anything have rewritten it
        upstream = self.services.config.upstream_floating() or ""
        published = self.store.read_many([("config.primary_node", {}), ("config.upstream_ip", {})])
        if published != [self.node, upstream]:
            self.store.txn().set("config.primary_node", self.node).set(
                "config.upstream_ip", upstream).commit()

    def _relinquish(self) -> None:
        log.info("Relinquishing the primary role")
        self._set_state("relinquish")
        started = time.monotonic()
        self.services.stop(urgent=False)
        with self.lock:
            txn = self.store.txn()
            _, stat = self.zk.get(self.store.path("lock.primary"))
            txn.delete("lock.primary", version=stat.version)
            txn.set("config.primary_node", "none")
            txn.set("node.coordinator_state", "secondary", node=self.node)
            txn.commit()
            self.state = "secondary"
        self._free_since = time.monotonic()
        log.info("Node %s is now secondary (relinquish took %.2f s)", self.node,
                 time.monotonic() - started)
