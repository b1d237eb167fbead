"""The steps a node carries out for one VM (called by the VM controller's workers).

The steps get what they need as a `StepEnv`, which the controller builds once: its node,
libvirt, storage and state store, and the few controller functions they call back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pvc.common import vmxml
from pvc.common.config import Config
from pvc.common.errors import BackendError
from pvc.drivers.hypervisor.vms import VmHost
from pvc.drivers.storage.base import Storage
from pvc.node.storage import rbd_locks
from pvc.node.vm.decide import Act
from pvc.state.store import Store

log = logging.getLogger("pvcnoded")


@dataclass(frozen=True)
class StepEnv:
    """What the steps for one VM work with."""

    node: str
    config: Config
    store: Store
    host: VmHost
    storage: Storage | None
    domain_type: str  # <domain type=...> of the guests started here
    # write an outcome (uuid, version, status, **changes) unless the record changed
    update: Callable[..., bool]
    retry_later: Callable[[str, float], None]  # (uuid, delay): reconcile again later
    failed: Callable[[str, int, dict[str, Any], str], None]  # (uuid, version, status, why)
    running_elsewhere: Callable[[str], str | None]  # a live peer that runs the VM
    superseded: Callable[[str, dict[str, Any]], bool]  # a newer status than this arrived
    # (uuid): the domain just ended here; publish its console's last lines before the
    # new state says so
    ended: Callable[[str], None]


def run(env: StepEnv, uuid: str, name: str, act: Act, status: dict[str, Any], version: int,
        xml: str, meta: dict[str, Any]) -> None:
    intent = status.get("intent") or {}
    force = bool(intent.get("force"))
    done = int(intent.get("seq", 0))  # acknowledged once libvirt created the domain
    if act == Act.START:
        if start(env, uuid, name, xml, status, version):
            env.update(uuid, version, status, state="start", started=done)
    elif act == Act.RESTART:
        if (power_off(env, uuid, name, status, force)
                and start(env, uuid, name, xml, status, version)):
            env.update(uuid, version, status, state="start", started=done)
    elif act == Act.SHUTDOWN:
        if power_off(env, uuid, name, status, force):
            env.update(uuid, version, status, state="stop")
    elif act == Act.FINISH_STOP:
        env.update(uuid, version, status, state="stop")
    elif act == Act.DESTROY:
        log.info("Stopping VM %s (forced)", name)
        env.host.destroy(uuid)
        env.ended(uuid)
    elif act == Act.POWER_OFF:
        power_off(env, uuid, name, status, force)
    elif act == Act.MIGRATE_OUT:
        migrate_out(env, uuid, name, status, version, meta)
    elif act == Act.HAND_OVER:
        log.info("VM %s is not running here: handing it to %s to start", name, status["node"])
        env.update(uuid, version, status, state="start")


def start(env: StepEnv, uuid: str, name: str, xml: str, status: dict[str, Any],
          version: int) -> bool:
    other = env.running_elsewhere(uuid)
    if other:
        # never two copies: wait until that node has stopped it
        log.warning("VM %s still runs on %s; starting it here once it stops there", name, other)
        env.retry_later(uuid, 1.0)
        return False
    spec = vmxml.parse(xml)
    if spec.rbd_volumes and env.storage is not None:
        try:
            refused = rbd_locks.clear_for_start(env.storage, env.config, env.node, spec.rbd_volumes)
        except BackendError as exc:
            refused = f"cannot check the RBD locks of its disks: {exc.message}"
        if refused:
            env.failed(uuid, version, status, f"start on {env.node} refused: {refused}")
            return False
    started = time.monotonic()
    try:
        env.host.create(vmxml.with_domain_type(xml, env.domain_type))
    except BackendError as exc:
        env.failed(uuid, version, status, f"start on {env.node} failed: {exc.message}")
        return False
    log.info("Started VM %s (%.2f s)", name, time.monotonic() - started)
    try:
        env.store.write("domain.vnc", env.host.vnc(uuid), domain=uuid)
    except Exception as exc:  # cosmetic: never fail a start over it
        log.debug("VNC of %s not published: %s", name, exc)
    return True


def power_off(env: StepEnv, uuid: str, name: str, status: dict[str, Any],
              force: bool) -> bool:
    """Graceful (ACPI) shutdown, forced after vm_shutdown_timeout; or forced at once.
    Returns False if a newer intent arrived while waiting (it is handled next)."""
    if force:
        log.info("Stopping VM %s (forced)", name)
        env.host.destroy(uuid)
        env.ended(uuid)
        return True
    log.info("Shutting down VM %s (forced after %.0f s)", name, env.config.vm_shutdown_timeout)
    env.host.shutdown(uuid)
    deadline = time.monotonic() + env.config.vm_shutdown_timeout
    while env.host.is_running(uuid):
        if env.superseded(uuid, status):
            return False
        if time.monotonic() > deadline:
            log.warning("VM %s did not shut down in %.0f s: forcing it off", name,
                        env.config.vm_shutdown_timeout)
            env.host.destroy(uuid)
            break
        time.sleep(0.25)
    env.ended(uuid)
    return True


def migrate_out(env: StepEnv, uuid: str, name: str, status: dict[str, Any], version: int,
                meta: dict[str, Any]) -> None:
    target = status["node"]
    intent = status.get("intent") or {}
    method = "live" if intent.get("force_live") else meta.get("migration_method", "none")
    ip = env.config.networks["cluster"].node_address(target).ip
    started = time.monotonic()
    if method in ("live", "none"):
        error = ""
        for attempt in range(1, 4):
            try:
                env.host.migrate(uuid, f"qemu+tcp://{ip}/system", f"tcp://{ip}",
                               int(meta.get("migration_max_downtime", 300)), 300.0)
                log.info("Live-migrated VM %s to %s (%.2f s)", name, target,
                         time.monotonic() - started)
                env.update(uuid, version, status, state="start")
                return
            except BackendError as exc:
                error = exc.message
                log.warning("Live migration of %s to %s, attempt %d: %s", name, target,
                            attempt, error)
                if not env.host.is_running(uuid):
                    break
                time.sleep(0.5)
        if method == "live" or not env.host.is_running(uuid):
            previous = intent.get("previous") or {}
            log.error("Migration of VM %s to %s failed; it stays on %s: %s", name, target,
                      env.node, error)
            if env.host.is_running(uuid):
                env.update(uuid, version, status, state="start",
                          node=previous.get("node", env.node),
                          last_node=previous.get("last_node", ""), intent={},
                          failed_reason=f"migration to {target} failed: {error}")
            return
        log.info("Falling back to a shutdown migration of VM %s", name)
    if power_off(env, uuid, name, status, force=False):
        env.update(uuid, version, status, state="start")
        log.info("Shut down VM %s for %s to start it (%.2f s)", name, target,
                 time.monotonic() - started)
