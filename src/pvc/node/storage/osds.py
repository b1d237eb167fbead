"""This node's OSDs, run through the node's `ServiceControl` (as `osd.add` and
`osd.remove` do): each OSD that the cluster state records on this node is started when
the daemon starts, or when its record first appears. When the daemon shuts down they are
stopped too if they are the daemon's own processes (the dev cluster's direct services);
systemd's OSD units run on (`ServiceControl.outlives_daemon`), so that a restart of the
node daemon, for a changed configuration or an upgrade, never takes an OSD down.

An OSD is started once per daemon life, never again behind an operator's back: one that
was stopped on purpose (`systemctl stop`, `pvc-dev service ... stop`, or `osd.remove`,
which stops it before it purges it) stays stopped until the daemon starts again. One that
crashed is started again: by systemd's `Restart=` under systemd, here under direct
service control (`ServiceControl.crashed`), at most `RESTART_BURST` times in
`RESTART_WINDOW` seconds (as systemd's start limit), then left down with an error.
"""

from __future__ import annotations

import logging
import threading
import time

from pvc.common import procs
from pvc.common.errors import PVCError
from pvc.node.services import ServiceControl, osd_service
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")

RECHECK = 5.0  # seconds between looks without a change
RESTART_BURST = 3  # restarts of one crashed OSD ...
RESTART_WINDOW = 1800.0  # ... within this many seconds, then it is left down


class LocalOsds:
    def __init__(self, store: Store, node: str, services: ServiceControl) -> None:
        self.store = store
        self.node = node
        self.services = services
        self.mine: set[str] = set()  # OSD ids recorded on this node (started once each)
        self._others: set[str] = set()  # recorded on another node
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._restarts: dict[str, list[float]] = {}  # OSD id -> when it was restarted
        self._thread = threading.Thread(target=self._run, name="local-osds", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.store.zk.ChildrenWatch(self.store.path("root.ceph.osds"), self._on_children)

    def _on_children(self, children: list[str]) -> bool | None:  # kazoo thread: never block
        if self._stop.is_set():
            return False
        self._changed.set()
        return None

    def _run(self) -> None:
        # on a change, and every few seconds: a record made without its node (the
        # primary adopting an OSD before it was placed) may get it later
        for _ in procs.wakes(self._stop, self._changed, RECHECK):
            try:
                self.start_new()
                self.restart_crashed()
            except PVCError as exc:
                log.warning("Could not look at the OSDs of this node: %s", exc)
                self._changed.set()  # look again
                self._stop.wait(2.0)

    def start_new(self) -> list[str]:
        """Start each OSD recorded on this node that this daemon has not started yet; the
        ids started."""
        current = set(self.store.children("root.ceph.osds"))
        with self._lock:  # a removed OSD's id may come back for a new OSD
            self.mine &= current
            self._others &= current
        ids = sorted(current - self.mine - self._others, key=int)
        records = self.store.read_many([("osd", {"osd": i}) for i in ids])
        started = []
        for osd, record in zip(ids, records, strict=True):
            owner = record.get("node") if isinstance(record, dict) else None
            if not owner:
                continue  # not placed yet: look again at the next change
            if owner != self.node:
                self._others.add(osd)
                continue
            with self._lock:
                if self._stop.is_set():
                    break
                self.mine.add(osd)
                service = osd_service(int(osd))
                try:
                    if not self.services.is_active(service):
                        self.services.start(service)
                        log.info("Started OSD %s (%s)", osd, service)
                        started.append(osd)
                except PVCError as exc:
                    log.error("Could not start OSD %s: %s", osd, exc)
        return started

    def restart_crashed(self) -> list[str]:
        """Start again each OSD of this node whose daemon crashed; the ids started."""
        started = []
        with self._lock:
            for osd in sorted(self.mine, key=int):
                if self._stop.is_set():
                    break
                service = osd_service(int(osd))
                if not self.services.crashed(service):
                    continue
                now = time.monotonic()
                recent = [t for t in self._restarts.get(osd, []) if now - t < RESTART_WINDOW]
                self._restarts[osd] = recent
                if len(recent) >= RESTART_BURST:
                    if len(recent) == RESTART_BURST:  # say it once
                        log.error("OSD %s (%s) crashed %d times in %.0f min: leaving it down",
                                  osd, service, RESTART_BURST + 1, RESTART_WINDOW / 60)
                        recent.append(now)
                    continue
                recent.append(now)
                log.warning("OSD %s (%s) exited without being stopped: starting it again",
                            osd, service)
                try:
                    self.services.start(service)
                    started.append(osd)
                except PVCError as exc:
                    log.error("Could not start OSD %s again: %s", osd, exc)
        return started

    def stop(self) -> None:
        """Stop watching, then (the daemon shuts down) stop every OSD of this node unless
        they outlive the daemon."""
        self._stop.set()
        self._changed.set()
        with self._lock:
            going = [] if self.services.outlives_daemon else sorted(self.mine, key=int)
            for osd in going:
                service = osd_service(int(osd))
                try:
                    if self.services.is_active(service):
                        self.services.stop(service)
                        log.info("Stopped OSD %s (%s)", osd, service)
                except PVCError as exc:
                    log.error("Could not stop OSD %s: %s", osd, exc)
        self._thread.join(10)
