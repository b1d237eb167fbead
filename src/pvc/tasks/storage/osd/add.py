"""`osd.add(node, device, weight)`: make an OSD on a device of this worker's node.

Check the device (`pvc.tasks.storage.osd.device`); `osd new` for an id; the data directory
and the key (`auth get-or-create`); `ceph-osd --mkfs` on the device; the CRUSH location
host=<node> with the weight (kept by the daemon's own start-ups through its
`crush_location` option); start the daemon; wait until it is up and in; record it in
ZooKeeper. A failure undoes what was done (daemon, id, key, CRUSH item, directory, the
label on the device). External DB devices and split OSDs (`osd_count` > 1) are refused as
not supported.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from pvc.common.errors import AlreadyExists, BackendError, InvalidState, PVCError
from pvc.node.services import osd_service
from pvc.node.storage.publisher import osd_stats
from pvc.ops.storage.osds import (
    check_add_options,
    check_device_path,
    check_weight,
    recorded_device,
    write_record,
)
from pvc.tasks import catalogue, progress
from pvc.tasks.progress import ProgressTask
from pvc.tasks.registry import register
from pvc.tasks.storage.osd import pending
from pvc.tasks.storage.osd.ceph import UP_TIMEOUT
from pvc.tasks.storage.osd.device import check_device, wipe_label
from pvc.tasks.storage.osd.env import OsdEnv, Steps, chown_tree, this_node, worker_env

ADD_STEPS = 8


def add_osd(env: OsdEnv, steps: Steps, device: str, weight: float) -> int:
    """Make, start and record an OSD on `device` of this node; its id. An add that a
    dead worker left is settled first (`pvc.tasks.storage.osd.pending`): if it was this
    same add and it had finished, its OSD is the answer."""
    settled = pending.settle(env, steps)
    if settled is not None and settled[0] == device:
        return settled[1]
    path = check_device(device, env.node)
    if recorded_device(env.store, env.node, device) is not None:
        raise AlreadyExists(f"Device {device} of node {env.node} is already an OSD")
    osd_uuid = str(uuidlib.uuid4())
    undo: list[tuple[str, Callable[[], None]]] = []
    pending.mark(env, device, osd_uuid)
    try:
        steps.next(f"Allocating an OSD id for {device}")
        osd = env.ceph.new_osd(osd_uuid)
        undo.append(("purge the OSD id", lambda: env.ceph.purge_stopped(osd)))
        steps.next(f"Creating the data directory and key of OSD {osd}")
        data_dir = env.ceph.data_dir(osd)
        if data_dir.exists() and any(data_dir.iterdir()):
            raise InvalidState(f"The data directory {data_dir} of OSD {osd} is not empty")
        data_dir.mkdir(parents=True, exist_ok=True)
        undo.append(("remove the data directory", lambda: shutil.rmtree(data_dir)))
        key = env.ceph.osd_key(osd)
        keyring = data_dir / "keyring"
        keyring.touch(mode=0o600)
        keyring.write_text(f"[osd.{osd}]\n\tkey = {key}\n")
        steps.next(f"Creating the BlueStore of OSD {osd} on {device}")
        undo.append(("wipe the device's label", lambda: wipe_label(path)))
        env.ceph.mkfs(osd, osd_uuid, data_dir, path)
        chown_tree(data_dir, env.ceph_user)
        if env.ceph_user is not None:
            shutil.chown(path, env.ceph_user, env.ceph_user)
        steps.next(f"Placing OSD {osd} under host {env.node} with weight {weight:g}")
        undo.append(("clear the OSD's settings", lambda: env.ceph.forget_settings(osd)))
        env.ceph.place(osd, weight, env.node)
        steps.next(f"Starting OSD {osd}")
        service = osd_service(osd)
        undo.append(("stop the daemon", lambda: env.services.stop(service)))
        env.services.start(service)
        steps.next(f"Waiting for OSD {osd} to come up")
        env.ceph.wait(f"OSD {osd} to come up", lambda: _came_up(env, osd, service),
                      UP_TIMEOUT)
        if not env.ceph.states().get(osd, (False, False))[1]:
            env.ceph.mark(osd, "in")
        env.ceph.wait(f"OSD {osd} to be in",
                      lambda: env.ceph.states().get(osd, (False, False)) == (True, True),
                      UP_TIMEOUT)
        steps.next(f"Recording OSD {osd} in the cluster state")
        record_osd(env, osd, osd_uuid, device)
    except BaseException as exc:
        failures = []
        for what, action in reversed(undo):
            try:
                action()
            except (PVCError, OSError) as undo_exc:
                failures.append(f"could not {what}: {undo_exc}")
        if failures and isinstance(exc, PVCError):
            raise type(exc)(f"{exc.message} (and undoing it: {'; '.join(failures)})") from exc
        if not failures:
            pending.clear(env)
        raise
    pending.clear(env)
    return osd


def _came_up(env: OsdEnv, osd: int, service: str) -> bool:
    if env.ceph.states().get(osd, (False, False))[0]:
        return True
    if not env.services.is_active(service):
        raise BackendError(f"OSD {osd} stopped while starting ({service} is not running)")
    return False


def first_stats(env: OsdEnv, osd: int, osd_uuid: str) -> dict[str, Any]:
    """The OSD's figures as the primary publishes them (until it does)."""
    if env.figures is not None:
        with contextlib.suppress(PVCError):
            for fig in env.figures():
                if fig.get("id") == osd:
                    return {**osd_stats(fig), "node": env.node}
    return {**osd_stats({"id": osd, "up": 1, "in": 1, "uuid": osd_uuid}), "node": env.node}


def record_osd(env: OsdEnv, osd: int, osd_uuid: str, device: str) -> None:
    """The OSD's record and first figures (the primary's publisher may have adopted the
    new OSD already: then its record is completed)."""
    record = {"node": env.node, "device": device, "db_device": "", "is_split": False,
              "uuid": osd_uuid}
    write_record(env.store, osd, record, first_stats(env, osd, osd_uuid))


@register(catalogue.OSD_ADD)
def osd_add(task: ProgressTask, node: str, device: str, weight: float = 1.0,
            ext_db_ratio: Any = None, ext_db_size: Any = None,
            osd_count: Any = None) -> dict[str, Any]:
    """Add an OSD on `device` of `node` (this worker's node)."""
    steps = Steps(task, ADD_STEPS, f"Checking device {device}")
    check_device_path(device)
    weight = check_weight(weight)
    check_add_options(ext_db_ratio, ext_db_size, osd_count)
    with worker_env() as env, env.locked(steps):
        this_node(env, node)
        osd = add_osd(env, steps, device, weight)
    return progress.finish(task, f"Added OSD {osd} on {device} of node {node}")

