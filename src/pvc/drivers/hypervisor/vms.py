"""VM operations on a node's libvirt: transient domains created from XML, graceful and
hard stops, live migration to another node's libvirt, and statistics."""

from __future__ import annotations

import contextlib
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any, Protocol

import libvirt

from pvc.common.errors import BackendError, InvalidState
from pvc.drivers.hypervisor.libvirt_driver import Libvirt

RUNNING = {libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_BLOCKED,
           libvirt.VIR_DOMAIN_PMSUSPENDED}
# `is_running` counts a domain as running while its QEMU runs: also while it is being shut
# down (`shutdown`: the guest has powered off, QEMU has not exited yet) or has no state
# yet. libvirt refuses a new start of the name until then ("domain is already active"):
# a restart that started the VM again at `shutdown` failed.
ACTIVE = RUNNING | {libvirt.VIR_DOMAIN_SHUTDOWN, libvirt.VIR_DOMAIN_NOSTATE}
STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate", libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked", libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed", libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}


class VmHost(Protocol):
    def is_running(self, uuid: str) -> bool: ...

    def create(self, xml: str) -> None: ...

    def shutdown(self, uuid: str) -> None: ...

    def destroy(self, uuid: str) -> None: ...

    def migrate(self, uuid: str, dest_uri: str, migrate_uri: str, max_downtime_ms: int,
                timeout: float) -> None: ...

    def stats(self, uuid: str) -> dict[str, Any]: ...

    def vnc(self, uuid: str) -> str: ...


def _no_domain(exc: libvirt.libvirtError) -> bool:
    return bool(exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN)


# how long a start waits for libvirt to finish removing the domain's previous run
REMOVAL_WAIT = 10.0


class LibvirtVms(Libvirt):
    """The node's libvirt for VM work (one shared connection; libvirt serialises calls
    on it safely, and a migration uses connections of its own)."""

    def _domain(self, uuid: str) -> libvirt.virDomain | None:
        with self._lock:
            conn = self._connect()
        try:
            return conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            if _no_domain(exc):
                return None
            raise BackendError(f"libvirt lookup of {uuid} failed: {exc}") from exc

    def is_running(self, uuid: str) -> bool:
        dom = self._domain(uuid)
        if dom is None:
            return False
        try:
            return dom.state()[0] in ACTIVE
        except libvirt.libvirtError as exc:
            if _no_domain(exc):
                return False
            raise BackendError(f"libvirt state of {uuid} failed: {exc}") from exc

    def create(self, xml: str) -> None:
        """Start the domain (transient: ZooKeeper holds the definition). Right after the
        domain's last run ended (a forced stop, a guest that powered itself off), libvirt
        may still be removing it and refuses the same name for a moment: that refusal is
        waited out, for up to REMOVAL_WAIT seconds."""
        with self._lock:
            conn = self._connect()
        deadline = time.monotonic() + REMOVAL_WAIT
        while True:
            try:
                conn.createXML(xml, 0)
                return
            except libvirt.libvirtError as exc:
                if "already being removed" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise BackendError(f"libvirt could not start the domain: {exc}") from exc

    def shutdown(self, uuid: str) -> None:
        dom = self._domain(uuid)
        if dom is None:
            return
        try:
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        except libvirt.libvirtError as exc:
            if not _no_domain(exc) and self.is_running(uuid):
                raise BackendError(f"libvirt shutdown of {uuid} failed: {exc}") from exc

    def change_device(self, uuid: str, device_xml: str, attach: bool) -> None:
        """Plug a device into (or out of) the running domain, as it runs: the stored
        definition is ZooKeeper's, so only the live domain changes here."""
        dom = self._domain(uuid)
        if dom is None or not self.is_running(uuid):
            raise InvalidState(f"The domain {uuid} does not run on this node")
        try:
            if attach:
                dom.attachDeviceFlags(device_xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            else:
                dom.detachDeviceFlags(device_xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            raise BackendError(f"libvirt could not {'attach' if attach else 'detach'} the "
                               f"device of {uuid}: {exc}") from exc

    def live_xml(self, uuid: str) -> str:
        dom = self._domain(uuid)
        if dom is None:
            raise InvalidState(f"The domain {uuid} does not run on this node")
        try:
            return str(dom.XMLDesc(0))
        except libvirt.libvirtError as exc:
            raise BackendError(f"libvirt could not describe {uuid}: {exc}") from exc

    def destroy(self, uuid: str) -> None:
        dom = self._domain(uuid)
        if dom is None:
            return
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            if not _no_domain(exc) and self.is_running(uuid):
                raise BackendError(f"libvirt destroy of {uuid} failed: {exc}") from exc

    def migrate(self, uuid: str, dest_uri: str, migrate_uri: str, max_downtime_ms: int,
                timeout: float) -> None:
        """Live migration, peer to peer (this node's libvirtd talks to the target's), memory
        copied over `migrate_uri` (the cluster network); the domain stays transient on the
        target. Aborted after `timeout` seconds."""
        dom = self._domain(uuid)
        if dom is None:
            raise BackendError(f"Domain {uuid} is not running here")
        done = threading.Event()

        def watchdog() -> None:
            if not done.wait(timeout):
                with contextlib.suppress(libvirt.libvirtError):
                    dom.abortJob()

        threading.Thread(target=watchdog, daemon=True).start()
        try:
            # older QEMUs take it only during the job: the default then applies
            with contextlib.suppress(libvirt.libvirtError):
                dom.migrateSetMaxDowntime(max_downtime_ms, 0)
            flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
            dom.migrateToURI3(dest_uri, {libvirt.VIR_MIGRATE_PARAM_URI: migrate_uri}, flags)
        except libvirt.libvirtError as exc:
            raise BackendError(f"Live migration to {dest_uri} failed: {exc}") from exc
        finally:
            done.set()

    def stats(self, uuid: str) -> dict[str, Any]:
        dom = self._domain(uuid)
        if dom is None:
            return {}
        try:
            state = dom.state()[0]
            out: dict[str, Any] = {"timestamp": time.time(),
                                   "state": STATE_NAMES.get(state, str(state))}
            if state not in RUNNING:
                return out
            out["memory_stats"] = {k: int(v) for k, v in dom.memoryStats().items()}
            try:
                cpu = dom.getCPUStats(True)
                out["vcpu_stats"] = {k: int(v) for k, v in (cpu[0] if cpu else {}).items()}
            except libvirt.libvirtError:  # needs the cpuacct cgroup: fall back to info()
                out["vcpu_stats"] = {"cpu_time": int(dom.info()[4])}
            root = ET.fromstring(dom.XMLDesc(0))
            disks, nets = [], []
            for target in root.findall("devices/disk/target"):
                dev = target.get("dev", "")
                rd_req, rd_bytes, wr_req, wr_bytes, errs = dom.blockStats(dev)
                disks.append({"name": dev, "rd_req": rd_req, "rd_bytes": rd_bytes,
                              "wr_req": wr_req, "wr_bytes": wr_bytes, "errs": errs})
            for iface in root.findall("devices/interface"):
                tgt, mac = iface.find("target"), iface.find("mac")
                if tgt is None or not tgt.get("dev"):
                    continue
                v = dom.interfaceStats(tgt.get("dev"))
                nets.append({"mac": mac.get("address", "") if mac is not None else "",
                             "name": tgt.get("dev"), "rd_bytes": v[0], "rd_packets": v[1],
                             "rd_errors": v[2], "rd_drops": v[3], "wr_bytes": v[4],
                             "wr_packets": v[5], "wr_errors": v[6], "wr_drops": v[7]})
            out["disk_stats"], out["net_stats"] = disks, nets
            return out
        except libvirt.libvirtError as exc:
            if _no_domain(exc):
                return {}
            raise BackendError(f"libvirt statistics of {uuid} failed: {exc}") from exc

    def vnc(self, uuid: str) -> str:
        dom = self._domain(uuid)
        if dom is None:
            return ""
        try:
            root = ET.fromstring(dom.XMLDesc(0))
        except libvirt.libvirtError:
            return ""
        gfx = root.find("devices/graphics[@type='vnc']")
        if gfx is None or gfx.get("port") in (None, "-1"):
            return ""
        return f"{gfx.get('listen', '')}:{gfx.get('port')}"
