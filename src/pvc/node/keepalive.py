"""Keepalives (this node's figures, every `keepalive_interval`) and the primary's watch
over the other nodes' keepalives (a node silent for `fence_intervals` is marked dead).

The watch looks every `PEER_CHECK` seconds, not once an interval, so a silent node is
marked dead within a quarter second of its limit. It runs on the holder of the primary
lease, also while that holder's floating addresses and API are being restarted after a
suspended ZooKeeper connection (the loss of the ZooKeeper leader suspends every session
for a few seconds; the dead node is often that leader). Silence is not judged while this
node's own keepalives fail, nor in the first `PEER_CHECK` + one interval after they
resumed from such an outage: the others could not write either, and each sends one
within an interval."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from pvc.common.config import Config
from pvc.common.errors import BackendError, Conflict, NotFound, PVCError
from pvc.drivers.hypervisor.libvirt_driver import DomainFigures, Hypervisor
from pvc.node import figures
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")

LIVE_STATES = ("init", "run")
PEER_CHECK = 0.25  # seconds between the primary's looks at the others' keepalives


class Keepalive:
    def __init__(
        self,
        store: Store,
        node: str,
        config: Config,
        hypervisor: Hypervisor | None,
        daemon_state: Callable[[], str],
        coordinator_state: Callable[[], str],
        state_lock: threading.RLock,
        is_primary: Callable[[], bool],
        on_missing: Callable[[], None],
        on_domains: Callable[[list[DomainFigures]], None] | None = None,
        provisioned: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.node = node
        self.config = config
        self.hypervisor = hypervisor
        self.daemon_state = daemon_state
        self.coordinator_state = coordinator_state
        self.state_lock = state_lock
        self.is_primary = is_primary
        self.on_missing = on_missing
        self.on_domains = on_domains
        self.provisioned = provisioned
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keepalive", daemon=True)
        self.last_ok = 0.0
        self._resumed = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        interval = self.config.keepalive_interval
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._guarded(self.beat)
            judge = self.is_primary() or self._holds_lease()
            next_at += interval
            if next_at < time.monotonic():  # we fell behind (overload): do not burst
                next_at = time.monotonic()
            while True:
                if judge:
                    self._guarded(self.watch_peers)
                delay = next_at - time.monotonic()
                if delay <= 0 or self._stop.wait(min(PEER_CHECK, delay) if judge else delay):
                    break

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except NotFound:
            log.warning("This node's record is gone (cluster re-initialized?); registering")
            self.on_missing()
        except (PVCError, KazooException, KazooTimeoutError) as exc:
            log.warning("Keepalive failed: %s", exc)
        except Exception:
            log.exception("Keepalive: unexpected error")

    def _holds_lease(self) -> bool:
        """Whether this coordinator holds the primary lease (its state may still say
        secondary while its services come back after a suspended connection)."""
        if self.coordinator_state() == "client":
            return False
        zk = self.store.zk
        try:
            stat = zk.exists(self.store.path("lock.primary"))
            session = zk.client_id
        except (KazooException, KazooTimeoutError):
            return False
        return bool(stat is not None and session and stat.ephemeralOwner == session[0])

    def _domains(self) -> list[DomainFigures] | None:
        if self.hypervisor is None:
            return []
        try:
            return self.hypervisor.domains()
        except BackendError as exc:
            log.warning("%s", exc)
            return None

    def beat(self) -> None:
        domains = self._domains()
        if domains is not None and self.on_domains is not None:
            self.on_domains(domains)
        stats = figures.stats(domains, self.provisioned() if self.provisioned else 0)
        with self.state_lock:
            txn = self.store.txn()
            txn.set("node.keepalive", time.time(), node=self.node)
            txn.set("node.stats", stats, node=self.node)
            txn.set("node.daemon_state", self.daemon_state(), node=self.node)
            txn.set("node.coordinator_state", self.coordinator_state(), node=self.node)
            txn.commit()
        now = time.monotonic()
        if now - self.last_ok > 2 * self.config.keepalive_interval:
            self._resumed = now  # after an outage (or at start): see watch_peers
        self.last_ok = now
        if self.config.log_keepalives:
            mem = stats["memory"]
            log.info("Keepalive: %s, load %.2f, VMs %d, memory %d/%d MiB used",
                     self.coordinator_state(), stats["load"], stats["domains_count"],
                     mem["used"], mem["total"])

    def watch_peers(self) -> None:
        """On the primary: mark nodes dead whose keepalives stopped."""
        limit = self.config.fence_intervals * self.config.keepalive_interval
        since_ok, since_resumed = (time.monotonic() - t for t in (self.last_ok, self._resumed))
        if since_ok > 2 * self.config.keepalive_interval:
            return  # our own keepalives fail: the others' may well fail alike
        if since_resumed < self.config.keepalive_interval + PEER_CHECK:
            return  # our own keepalives just resumed: the others' are on their way
        now = time.time()
        for peer in self.store.children("root.nodes"):
            if peer == self.node:
                continue
            state, stamp = self.store.read_many([
                ("node.daemon_state", {"node": peer}), ("node.keepalive", {"node": peer})
            ])
            if state not in LIVE_STATES or stamp is None or now - stamp <= limit:
                continue
            try:
                # judge again on versioned reads, and write only if neither changed since
                state, state_version = self.store.read_versioned("node.daemon_state", node=peer)
                stamp, stamp_version = self.store.read_versioned("node.keepalive", node=peer)
                if state not in LIVE_STATES or now - stamp <= limit:
                    continue
                txn = self.store.txn()
                txn.check("node.keepalive", stamp_version, node=peer)
                txn.set("node.daemon_state", "dead", version=state_version, node=peer)
                # a silent coordinator holds no primary lease (this node does): say so
                if self.store.read("node", node=peer) == "coordinator":
                    txn.set("node.coordinator_state", "secondary", node=peer)
                txn.commit()
            except (Conflict, NotFound):
                continue  # it spoke up (or vanished) meanwhile
            log.warning("Node %s has sent no keepalive for %.1f s: marked dead", peer, now - stamp)
