"""Flush and ready of this node, driven by its `domain_state` (written by the API).

flush: every running VM goes elsewhere, `flush_concurrency` at a time, each to a node
chosen by its selector and node limit, counting the memory already promised to each
target; a VM with no possible target is shut down and marked to start on ready. Ends
in `flushed`. ready (unflush): VMs migrated away from here come back, marked VMs start
here; ends in `ready`. A newer flush or ready replaces one in progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pvc.common import placement, vm
from pvc.common.errors import BackendError, Conflict, NotFound, PVCError

if TYPE_CHECKING:
    from pvc.node.vm.controller import VmController

log = logging.getLogger("pvcnoded")
PER_VM_TIMEOUT = 120.0
CHANGE_ATTEMPTS = 20  # compare-and-set tries of one VM's status
JOB_ATTEMPTS = 10  # runs of a flush/ready job that ZooKeeper failures interrupted
RETRY_WAIT = 30.0  # seconds to wait for the ZooKeeper connection before a new run
Done = Callable[[], bool]
Changes = Callable[[dict[str, Any]], dict[str, Any] | None]
Job = Callable[[], Done]


class FlushController:
    def __init__(self, vms: VmController) -> None:
        self.vms = vms
        self.store = vms.store
        self.node = vms.node
        self.config = vms.config
        self._gen = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        self.store.zk.DataWatch(self.store.path("node.domain_state", node=self.node),
                                self._on_state)

    def _on_state(self, data: bytes | None, stat: Any, event: Any = None) -> bool:
        state = data.decode() if data else ""
        if state in ("flush", "unflush"):
            with self._lock:
                self._gen += 1
                gen = self._gen
            job = self._flush if state == "flush" else self._unflush
            threading.Thread(target=self._guard, args=(job, gen, state), daemon=True,
                             name=state).start()
        return True

    def _guard(self, job: Any, gen: int, state: str) -> None:
        """Run the job; after a ZooKeeper failure (a lost connection: the watch that
        started the job does not fire again) run it again once connected, for as long as
        it is still the newest request. The jobs look afresh each time, so a second run
        carries on where the first stopped."""
        for attempt in range(1, JOB_ATTEMPTS + 1):
            try:
                job(gen, state)
                return
            except BackendError as exc:
                lost = "ZooKeeper" in str(exc) or not self.store.zk.connected
                if not lost or gen != self._gen or attempt == JOB_ATTEMPTS:
                    log.error("%s of %s failed: %s", state.capitalize(), self.node, exc)
                    return
                log.warning("%s of %s interrupted (%s): trying again", state.capitalize(),
                            self.node, exc)
                deadline = time.monotonic() + RETRY_WAIT
                while not self.store.zk.connected and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(0.5)
            except PVCError as exc:
                log.error("%s of %s failed: %s", state.capitalize(), self.node, exc)
                return
            except Exception:
                log.exception("%s of %s failed", state.capitalize(), self.node)
                return

    def _current(self, gen: int, state: str) -> bool:
        return gen == self._gen and self.store.read(
            "node.domain_state", default="", node=self.node) == state

    def _finish(self, gen: int, state: str, final: str) -> None:
        value, version = self.store.read_versioned("node.domain_state", node=self.node)
        if gen != self._gen or value != state:
            log.info("%s of %s was replaced by a newer request", state, self.node)
            return
        try:
            self.store.write("node.domain_state", final, version=version, node=self.node)
            log.info("Node %s is %s", self.node, final)
        except Conflict:
            log.info("%s of %s was replaced by a newer request", state, self.node)

    # -- helpers ----------------------------------------------------------------
    def _statuses(self) -> dict[str, dict[str, Any]]:
        with self.vms._lock:
            return dict(self.vms._status)

    def _loads(self) -> list[placement.NodeLoad]:
        out = []
        for name in self.store.children("root.nodes"):
            d, m, s = self.store.read_many([(k, {"node": name}) for k in (
                "node.daemon_state", "node.domain_state", "node.stats")])
            out.append(placement.load_from(name, d, m, s))
        return out

    def _memory(self, uuid: str) -> int:
        specs = self.vms.specs()
        return specs[uuid].memory_mib if uuid in specs else 0

    def _change(self, uuid: str, make: Changes) -> int | None:
        """CAS the VM's status with the changes `make` derives from its current status
        (read afresh, not the watch cache); the ZooKeeper version written, None if the
        VM is gone or `make` says no change is due any more."""
        for attempt in range(CHANGE_ATTEMPTS):
            try:
                status, version = self.store.read_versioned("domain.status", domain=uuid)
                current = vm.status_of(status)
                changes = make(current)
                if changes is None:
                    return None
                new = {**current, **changes}
                self.store.write("domain.status", new, version=version, domain=uuid)
                return version + 1
            except Conflict:  # a node wrote an outcome meanwhile: change the newer one
                time.sleep(min(0.1 * (attempt + 1), 1.0))
            except NotFound:
                return None
        raise BackendError(f"The status of VM {uuid} kept changing: "
                           f"{CHANGE_ATTEMPTS} tries to change it failed")

    def _outcome(self, uuid: str, written: int | None) -> Done:
        """A check that is true once the VM's status shows an outcome of the intent we
        wrote (version `written`): running somewhere (migrated, or back here after a
        failed migration), stopped, or failed. The watch cache may still show the status
        from before our write, or our write itself: only a newer version is an outcome."""
        def done() -> bool:
            if written is None:
                return True
            current = self._statuses().get(uuid)
            return current is None or (self.vms.seen_version(uuid) > written and current[
                "state"] not in ("migrate", "unmigrate", "shutdown", "restart"))
        return done

    def _run_bounded(self, gen: int, state: str, jobs: list[Job]) -> None:
        """Run each job (it writes an intent and returns how to tell it is over), at most
        flush_concurrency in flight, and wait for all of them."""
        flight: list[tuple[Done, float]] = []
        queue = list(jobs)
        while queue or flight:
            if not self._current(gen, state):
                return
            with self.vms.changed:
                seen = self.vms.changes
            flight = [(done, since) for done, since in flight
                      if not done() and time.monotonic() - since <= PER_VM_TIMEOUT]
            while queue and len(flight) < self.config.flush_concurrency:
                flight.append((queue.pop(0)(), time.monotonic()))
            if not flight:
                continue
            with self.vms.changed:  # until some VM's status changes (or a while passes)
                if self.vms.changes == seen:
                    self.vms.changed.wait(0.5)

    def _migrations_settled(self, gen: int, state: str) -> bool:
        """Wait until no VM is moving to or from this node (a flush or ready that this one
        replaced may have started some); False if this one is replaced meanwhile."""
        deadline = time.monotonic() + PER_VM_TIMEOUT
        while time.monotonic() < deadline:
            if not self._current(gen, state):
                return False
            with self.vms.changed:
                seen = self.vms.changes
            moving = [u for u, s in self._statuses().items()
                      if s["state"] in ("migrate", "unmigrate") and self.node in (
                          s["node"], (s.get("intent") or {}).get("source"))]
            if not moving:
                return True
            with self.vms.changed:
                if self.vms.changes == seen:
                    self.vms.changed.wait(0.5)
        return self._current(gen, state)

    # -- flush and ready --------------------------------------------------------
    def _flush(self, gen: int, state: str) -> None:
        log.info("Flushing node %s", self.node)
        if not self._migrations_settled(gen, state):
            return
        deadline = time.monotonic() + PER_VM_TIMEOUT
        while time.monotonic() < deadline and any(  # wait out restarts and shutdowns
                s["node"] == self.node and s["state"] in ("restart", "shutdown")
                for s in self._statuses().values()):
            time.sleep(0.2)
        mine = [u for u, s in self._statuses().items()
                if s["node"] == self.node and s["state"] == "start"]
        mine.sort(key=self._memory, reverse=True)
        reserved: dict[str, int] = {}

        def away(uuid: str) -> Job:
            def job() -> Done:
                meta = vm.meta_of(self.store.read("domain.meta", default={}, domain=uuid))
                selector = meta["node_selector"] if meta["node_selector"] != "none" else (
                    self.store.read("config.migration_target_selector", default="")
                    or self.config.target_selector)
                memory = self._memory(uuid)
                target = placement.choose(self._loads(), selector, memory, [self.node],
                                          meta["node_limit"], reserved)
                def still_here(s: dict[str, Any]) -> bool:
                    return bool(s["node"] == self.node and s["state"] == "start")

                if target is None:
                    log.warning("No node can take VM %s: shutting it down until ready", uuid)
                    self.store.write("domain.meta", {**meta, "node_autostart": True},
                                     domain=uuid)
                    return self._outcome(uuid, self._change(uuid, lambda s: {
                        "state": "shutdown", "intent": {}} if still_here(s) else None))
                reserved[target] = reserved.get(target, 0) + memory
                return self._outcome(uuid, self._change(uuid, lambda s: {
                    "state": "migrate", "node": target, "last_node": self.node,
                    "intent": {"source": self.node, "force_live": False,
                               "previous": {"node": self.node,
                                            "last_node": s["last_node"]}},
                } if still_here(s) else None))
            return job

        self._run_bounded(gen, state, [away(u) for u in mine])
        self._finish(gen, state, "flushed")

    def _unflush(self, gen: int, state: str) -> None:
        log.info("Readying node %s", self.node)
        if not self._migrations_settled(gen, state):
            return
        statuses = self._statuses()
        back = [u for u, s in statuses.items()
                if s["last_node"] == self.node and s["node"] != self.node
                and s["state"] == "start"]

        def home(uuid: str) -> Job:
            def job() -> Done:
                return self._outcome(uuid, self._change(uuid, lambda s: {
                    "state": "migrate", "node": self.node, "last_node": "",
                    "intent": {"source": s["node"], "force_live": False,
                               "previous": {"node": s["node"], "last_node": self.node}},
                } if s["last_node"] == self.node and s["node"] != self.node
                    and s["state"] == "start" else None))
            return job

        self._run_bounded(gen, state, [home(u) for u in back])
        for uuid, status in statuses.items():
            if status["node"] != self.node or status["state"] not in ("stop", "shutdown"):
                continue
            meta = vm.meta_of(self.store.read("domain.meta", default={}, domain=uuid))
            if meta["node_autostart"]:
                self._change(uuid, lambda s: {"state": "start", "intent": {}} if s[
                    "node"] == self.node and s["state"] in ("stop", "shutdown") else None)
                self.store.write("domain.meta", {**meta, "node_autostart": False}, domain=uuid)
                log.info("Starting VM %s, marked to start when %s is ready", uuid, self.node)
        self._finish(gen, state, "ready")
