"""The steps a node carries out for one VM (called by the VmController's workers)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pvc.common import vmxml
from pvc.common.errors import BackendError
from pvc.node.storage import rbd_locks
from pvc.node.vm.decide import Act

if TYPE_CHECKING:
    from pvc.node.vm.controller import VmController

log = logging.getLogger("pvcnoded")


def run(c: VmController, uuid: str, name: str, act: Act, status: dict[str, Any], version: int,
        xml: str, meta: dict[str, Any]) -> None:
    intent = status.get("intent") or {}
    force = bool(intent.get("force"))
    done = int(intent.get("seq", 0))  # acknowledged once libvirt created the domain
    if act == Act.START:
        if start(c, uuid, name, xml, status, version):
            c._update(uuid, version, status, state="start", started=done)
    elif act == Act.RESTART:
        if power_off(c, uuid, name, status, force) and start(c, uuid, name, xml, status, version):
            c._update(uuid, version, status, state="start", started=done)
    elif act == Act.SHUTDOWN:
        if power_off(c, uuid, name, status, force):
            c._update(uuid, version, status, state="stop")
    elif act == Act.FINISH_STOP:
        c._update(uuid, version, status, state="stop")
    elif act == Act.DESTROY:
        log.info("Stopping VM %s (forced)", name)
        c.host.destroy(uuid)
    elif act == Act.POWER_OFF:
        power_off(c, uuid, name, status, force)
    elif act == Act.MIGRATE_OUT:
        migrate_out(c, uuid, name, status, version, meta)
    elif act == Act.HAND_OVER:
        log.info("VM %s is not running here: handing it to %s to start", name, status["node"])
        c._update(uuid, version, status, state="start")


def start(c: VmController, uuid: str, name: str, xml: str, status: dict[str, Any],
          version: int) -> bool:
    other = c.running_elsewhere(uuid)
    if other:
        # never two copies: wait until that node has stopped it
        log.warning("VM %s still runs on %s; starting it here once it stops there", name, other)
        c._retry_later(uuid, 1.0)
        return False
    spec = vmxml.parse(xml)
    if spec.rbd_volumes and c.storage is not None:
        try:
            refused = rbd_locks.clear_for_start(c.storage, c.config, c.node, spec.rbd_volumes)
        except BackendError as exc:
            refused = f"cannot check the RBD locks of its disks: {exc.message}"
        if refused:
            c.failed(uuid, version, status, f"start on {c.node} refused: {refused}")
            return False
    started = time.monotonic()
    try:
        c.host.create(vmxml.with_domain_type(xml, c.domain_type))
    except BackendError as exc:
        c.failed(uuid, version, status, f"start on {c.node} failed: {exc.message}")
        return False
    log.info("Started VM %s (%.2f s)", name, time.monotonic() - started)
    try:
        c.store.write("domain.vnc", c.host.vnc(uuid), domain=uuid)
    except Exception as exc:  # cosmetic: never fail a start over it
        log.debug("VNC of %s not published: %s", name, exc)
    return True


def _changed(c: VmController, uuid: str, status: dict[str, Any]) -> bool:
    with c._lock:
        return c._status.get(uuid) != status


def power_off(c: VmController, uuid: str, name: str, status: dict[str, Any],
              force: bool) -> bool:
    """Graceful (ACPI) shutdown, forced after vm_shutdown_timeout; or forced at once.
    Returns False if a newer intent arrived while waiting (it is handled next)."""
    if force:
        log.info("Stopping VM %s (forced)", name)
        c.host.destroy(uuid)
        return True
    log.info("Shutting down VM %s (forced after %.0f s)", name, c.config.vm_shutdown_timeout)
    c.host.shutdown(uuid)
    deadline = time.monotonic() + c.config.vm_shutdown_timeout
    while c.host.is_running(uuid):
        if _changed(c, uuid, status):
            return False
        if time.monotonic() > deadline:
            log.warning("VM %s did not shut down in %.0f s: forcing it off", name,
                        c.config.vm_shutdown_timeout)
            c.host.destroy(uuid)
            break
        time.sleep(0.25)
    return True


def migrate_out(c: VmController, uuid: str, name: str, status: dict[str, Any], version: int,
                meta: dict[str, Any]) -> None:
    target = status["node"]
    intent = status.get("intent") or {}
    method = "live" if intent.get("force_live") else meta.get("migration_method", "none")
    ip = c.config.networks["cluster"].node_address(target).ip
    started = time.monotonic()
    if method in ("live", "none"):
        error = ""
        for attempt in range(1, 4):
            try:
                c.host.migrate(uuid, f"qemu+tcp://{ip}/system", f"tcp://{ip}",
                               int(meta.get("migration_max_downtime", 300)), 300.0)
                log.info("Live-migrated VM %s to %s (%.2f s)", name, target,
                         time.monotonic() - started)
                c._update(uuid, version, status, state="start")
                return
            except BackendError as exc:
                error = exc.message
                log.warning("Live migration of %s to %s, attempt %d: %s", name, target,
                            attempt, error)
                if not c.host.is_running(uuid):
                    break
                time.sleep(0.5)
        if method == "live" or not c.host.is_running(uuid):
            previous = intent.get("previous") or {}
            log.error("Migration of VM %s to %s failed; it stays on %s: %s", name, target,
                      c.node, error)
            if c.host.is_running(uuid):
                c._update(uuid, version, status, state="start",
                          node=previous.get("node", c.node),
                          last_node=previous.get("last_node", ""), intent={},
                          failed_reason=f"migration to {target} failed: {error}")
            return
        log.info("Falling back to a shutdown migration of VM %s", name)
    if power_off(c, uuid, name, status, force=False):
        c._update(uuid, version, status, state="start")
        log.info("Shut down VM %s for %s to start it (%.2f s)", name, target,
                 time.monotonic() - started)
