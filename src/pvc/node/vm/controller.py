"""The node's VM reconciler. Watches only enqueue a VM's UUID; workers compare the
record (desired) with this node's libvirt (observed) and act; outcomes are written with
compare-and-set on the VM's status, so a newer intent always wins over a stale outcome.
A resync enqueues everything now and then, and every keepalive's domain listing is
checked against the cached records, so a killed QEMU is restarted within a second or two.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import KazooException
from kazoo.handlers.threading import KazooTimeoutError

from pvc.common import vm, vmxml
from pvc.common.config import Config
from pvc.common.errors import Conflict, NotFound, PVCError
from pvc.drivers.hypervisor.accel import effective_domain_type
from pvc.drivers.hypervisor.libvirt_driver import DomainFigures
from pvc.drivers.hypervisor.vms import VmHost
from pvc.drivers.storage.base import Storage
from pvc.node.vm import actions as vm_actions
from pvc.node.vm.decide import Act, decide, should_run_here
from pvc.node.workqueue import WorkQueue
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")
RESYNC_INTERVAL = 10.0
MIGRATION_TIMEOUT = 300.0
MIGRATION_ATTEMPTS = 3


class VmController:
    def __init__(self, store: Store, node: str, config: Config, host: VmHost,
                 workers: int = 16, storage: Storage | None = None) -> None:
        self.store = store
        self.storage = storage
        self.node = node
        self.config = config
        self.host = host
        self.queue = WorkQueue(self.reconcile, workers, "vm")
        self.domain_type = effective_domain_type(config.domain_type)
        log.info("Guests run as <domain type='%s'> (hypervisor.domain_type: %s)",
                 self.domain_type, config.domain_type)
        self._lock = threading.Lock()
        self._status: dict[str, dict[str, Any]] = {}  # last status seen by the watches
        self._version: dict[str, int] = {}  # its ZooKeeper version
        self._watched: set[str] = set()
        self._specs: dict[str, tuple[str, vmxml.DomainSpec]] = {}
        self._running: set[str] = set()  # running here, as the last keepalive listed it
        # notified whenever a VM's status changes (flush and ready wait on it); the
        # counter lets a waiter tell whether anything changed since it last looked
        self.changed = threading.Condition()
        self.changes = 0
        self._stop = threading.Event()
        # called with a VM's uuid once its domain ended here (the daemon hands it to
        # the console observer, so a stopped VM's console shows its last words)
        self.on_ended: Callable[[str], None] = lambda uuid: None
        self.steps = vm_actions.StepEnv(
            node, config, store, host, storage, self.domain_type, update=self._update,
            retry_later=self._retry_later, failed=self.failed,
            running_elsewhere=self.running_elsewhere, superseded=self._superseded,
            ended=lambda uuid: self.on_ended(uuid))

    # -- wiring -----------------------------------------------------------
    def start(self) -> None:
        self.queue.start()
        self.store.zk.ChildrenWatch(self.store.path("root.domains"), self._on_children)
        threading.Thread(target=self._resync_loop, name="vm-resync", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.stop()

    def _on_children(self, children: list[str]) -> bool:  # kazoo thread: never block
        current = set(children)
        with self._lock:
            new = current - self._watched
            gone = self._watched - current
            self._watched |= new
            self._watched -= gone
            for uuid in gone:
                self._status.pop(uuid, None)
                self._version.pop(uuid, None)
        for uuid in new:
            self.store.zk.DataWatch(self.store.path("domain.status", domain=uuid),
                                    self._status_watcher(uuid))
        for uuid in gone:
            self.queue.add(uuid)
        return not self._stop.is_set()

    def _status_watcher(self, uuid: str) -> Any:
        def on_status(data: bytes | None, stat: Any, event: Any = None) -> bool:
            with self._lock:
                if uuid not in self._watched:
                    return False  # the VM is gone: end this watch
                if data is None:
                    self._status.pop(uuid, None)
                    self._version.pop(uuid, None)
                else:
                    try:
                        self._status[uuid] = vm.status_of(
                            self.store.schema.key("domain.status").codec.decode(data))
                        self._version[uuid] = stat.version
                    except ValueError:
                        self._status.pop(uuid, None)
                        self._version.pop(uuid, None)
            self.queue.add(uuid)
            with self.changed:
                self.changes += 1
                self.changed.notify_all()
            return True
        return on_status

    def _resync_loop(self) -> None:
        while not self._stop.wait(RESYNC_INTERVAL):
            try:
                self._resync()
            except (PVCError, KazooException, KazooTimeoutError) as exc:
                log.warning("VM resync: %s", exc)

    def _resync(self) -> None:
        """Catch what the watches missed: read every VM's status afresh (one pipelined
        read, not the watch cache) and reconcile the VMs that involve this node."""
        with self._lock:
            uuids = list(self._watched)
            running = set(self._running)
        fresh = self.store.read_many([("domain.status", {"domain": u}) for u in uuids])
        for uuid, raw in zip(uuids, fresh, strict=True):
            status = None if raw is None else vm.status_of(raw)
            if (uuid in running or status is None or status["node"] == self.node
                    or should_run_here(self.node, status)):
                self.queue.add(uuid)

    def observe(self, domains: list[DomainFigures]) -> None:
        """Called with each keepalive's libvirt listing: enqueue every VM whose running
        here disagrees with what its record asks of this node."""
        running = {d.uuid for d in domains if d.running}
        with self._lock:
            statuses = dict(self._status)
            self._running = running
        for uuid in running - set(statuses):
            self.queue.add(uuid)  # a domain without a (known) record
        for uuid, status in statuses.items():
            wants = should_run_here(self.node, status)
            if (uuid in running) != wants and not self.queue.busy(uuid):
                self.queue.add(uuid)

    def provisioned_mib(self) -> int:
        """Memory of every VM assigned to this node (running or not)."""
        with self._lock:
            mine = [u for u, s in self._status.items() if s["node"] == self.node]
            specs = dict(self._specs)
        return sum(specs[u][1].memory_mib for u in mine if u in specs)

    def seen_version(self, uuid: str) -> int:
        """The ZooKeeper version of the VM's status the watches saw last (-1: none)."""
        with self._lock:
            return self._version.get(uuid, -1)

    def specs(self) -> dict[str, vmxml.DomainSpec]:
        with self._lock:
            return {u: s for u, (_, s) in self._specs.items()}

    def local_consoles(self) -> dict[str, str]:
        """{uuid: serial log file} of the VMs running here."""
        with self._lock:
            return {u: self._specs[u][1].serial_log for u in self._running if u in self._specs}

    # -- one VM -------------------------------------------------------------
    def _read(self, uuid: str) -> tuple[dict[str, Any], int, str, dict[str, Any]] | None:
        keys = [self.store.schema.key(k) for k in ("domain.status", "domain.xml", "domain.meta")]
        status, xml, meta = self.store.fetch_many([k.path(domain=uuid) for k in keys])
        if status is None or xml is None:
            return None  # removed (or being removed)
        return (vm.status_of(keys[0].codec.decode(status[0])), status[1].version,
                keys[1].codec.decode(xml[0]),
                vm.meta_of(keys[2].codec.decode(meta[0]) if meta is not None else None))

    def _spec(self, uuid: str, xml: str) -> vmxml.DomainSpec:
        with self._lock:
            cached = self._specs.get(uuid)
        if cached and cached[0] == xml:
            return cached[1]
        spec = vmxml.parse(xml)
        with self._lock:
            self._specs[uuid] = (xml, spec)
        return spec

    def reconcile(self, uuid: str) -> None:
        try:
            record = self._read(uuid)
            running = self.host.is_running(uuid)
            if record is None:
                with self._lock:
                    self._specs.pop(uuid, None)
                if running:
                    self._act(uuid, Act.STRAY, None, -1, "", {}, "no record asks for it")
                return
            status, version, xml, meta = record
            self._spec(uuid, xml)
            decision = decide(self.node, status, running)
            if decision.act != Act.NOTHING:
                self._act(uuid, decision.act, status, version, xml, meta, decision.reason)
        except (KazooException, KazooTimeoutError) as exc:
            log.warning("VM %s: ZooKeeper error %r; will retry", uuid, exc)
            self._retry_later(uuid)
        except PVCError as exc:
            log.error("VM %s: %s", uuid, exc)
            self._retry_later(uuid)

    def _retry_later(self, uuid: str, delay: float = 2.0) -> None:
        timer = threading.Timer(delay, self.queue.add, (uuid,))
        timer.daemon = True
        timer.start()

    def _superseded(self, uuid: str, status: dict[str, Any]) -> bool:
        """Whether the watches saw a status newer than `status` (a newer intent)."""
        with self._lock:
            return self._status.get(uuid) != status

    def _update(self, uuid: str, version: int, status: dict[str, Any], **changes: Any) -> bool:
        """Write an outcome unless the record changed meanwhile (then it is reconciled
        again, by the watch that saw the change)."""
        try:
            self.store.write("domain.status", {**status, **changes}, version=version,
                             domain=uuid)
            return True
        except (Conflict, NotFound):
            log.info("VM %s changed while we worked on it; looking again", uuid)
            return False

    def _act(self, uuid: str, act: Act, status: dict[str, Any] | None, version: int,
             xml: str, meta: dict[str, Any], reason: str) -> None:
        name = self._specs[uuid][1].name if uuid in self._specs else uuid
        if act == Act.STRAY:
            log.warning("VM %s %s: destroying it here", name, reason)
            self.host.destroy(uuid)
            return
        assert status is not None
        vm_actions.run(self.steps, uuid, name, act, status, version, xml, meta)

    def running_elsewhere(self, uuid: str) -> str | None:
        """A live node (in run) that reports this VM running, other than this one."""
        peers = [p for p in self.store.children("root.nodes") if p != self.node]
        values = self.store.read_many([(k, {"node": p}) for p in peers
                                       for k in ("node.daemon_state", "node.stats")])
        for i, peer in enumerate(peers):
            state, stats = values[2 * i], values[2 * i + 1]
            if state == "run" and uuid in ((stats or {}).get("running_domains") or []):
                return peer
        return None

    def wait_off(self, uuid: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.host.is_running(uuid):
                return True
            time.sleep(0.25)
        return not self.host.is_running(uuid)

    def failed(self, uuid: str, version: int, status: dict[str, Any], why: str) -> None:
        log.error("VM %s failed: %s", uuid, why)
        self._update(uuid, version, status, state="fail", failed_reason=why)
