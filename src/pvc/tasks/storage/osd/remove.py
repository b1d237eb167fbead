"""`osd.remove(osd, force)`: remove an OSD of this worker's node.

Mark it out; wait until the managers say it is safe to destroy (skipped with force); stop
the daemon; purge it (id, key, CRUSH item); remove its data directory and wipe the
BlueStore label of its device; delete its record. While the OSD still runs, a failure marks
it in again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from pvc.common import names
from pvc.common.errors import BackendError, Conflict, InvalidState, NotFound, PVCError
from pvc.node.services import osd_service
from pvc.state.store import Store
from pvc.tasks import catalogue, progress
from pvc.tasks.progress import ProgressTask
from pvc.tasks.registry import is_rerun, register
from pvc.tasks.storage.osd import pending
from pvc.tasks.storage.osd.ceph import DOWN_TIMEOUT
from pvc.tasks.storage.osd.device import wipe_label
from pvc.tasks.storage.osd.env import OsdEnv, Steps, worker_env

# Seconds for the data to leave an OSD that is out.
SAFE_TIMEOUT = 4 * 3600.0

REMOVE_STEPS = 7


def remove_osd(env: OsdEnv, steps: Steps, osd_text: str, force: bool,
               rerun: bool = False) -> None:
    """Remove OSD `osd_text` of this node. On a `rerun` (an earlier run of the same task
    was cut short) an OSD that is gone from Ceph or from the cluster state is what that
    run did: the rest is finished as with force."""
    osd = int(names.osd_id(osd_text))
    record = env.store.read("osd", default=None, osd=str(osd))
    if record is None and not (force or rerun):
        raise NotFound(f"OSD {osd} not found")
    owner = record.get("node") if isinstance(record, dict) else None
    if owner and owner != env.node:
        raise InvalidState(f"OSD {osd} is on node {owner}, not {env.node}")
    exists = osd in env.ceph.states()
    if not exists and not (force or rerun):
        raise NotFound(f"OSD {osd} does not exist in the Ceph cluster (use force to remove "
                       "its record)")
    service = osd_service(osd)
    data_dir = env.ceph.data_dir(osd)
    device = _block_target(data_dir)
    if device is not None and not device.exists() and not force:
        raise InvalidState(f"The device {device} of OSD {osd} is gone (use force to remove "
                           "the OSD anyway)")
    with contextlib.ExitStack() as stack:
        _remove(env, steps, osd, exists, force, stack, service)
        _remove_files(env, steps, osd, force, data_dir, device)


def _remove(env: OsdEnv, steps: Steps, osd: int, exists: bool, force: bool,
            stack: contextlib.ExitStack, service: str) -> None:
    """Out, safe to destroy, stopped (under the node's OSD lock from then on), purged."""
    if exists:
        steps.next(f"Marking OSD {osd} out")
        env.ceph.mark(osd, "out")
        try:
            steps.next(f"Waiting until OSD {osd} is safe to destroy")
            if not force:
                _wait_safe(env, steps, osd)
            steps.next(f"Stopping OSD {osd}")
            _lock(env, steps, stack)
            env.services.stop(service)
        except BaseException:
            with contextlib.suppress(PVCError):
                env.ceph.mark(osd, "in")
            raise
        env.ceph.mark(osd, "down")
        env.ceph.wait(f"OSD {osd} to be down",
                      lambda: not env.ceph.states().get(osd, (False, False))[0], DOWN_TIMEOUT)
        steps.next(f"Purging OSD {osd} from the Ceph cluster")
        env.ceph.purge(osd)
    else:
        steps.done = 3
        steps.next(f"Stopping OSD {osd} (it is not in the Ceph cluster)")
        _lock(env, steps, stack)
        env.services.stop(service)
        steps.next(f"OSD {osd} is not in the Ceph cluster: nothing to purge")


def _lock(env: OsdEnv, steps: Steps, stack: contextlib.ExitStack) -> None:
    """Take the node's OSD lock (held to the end), then settle an add that a dead
    worker left (`pvc.tasks.storage.osd.pending`)."""
    stack.enter_context(env.locked(steps))
    pending.settle(env, steps)


def _remove_files(env: OsdEnv, steps: Steps, osd: int, force: bool, data_dir: Path,
                  device: Path | None) -> None:
    """The settings, data directory, device label and record of a purged OSD."""
    with contextlib.suppress(PVCError):
        env.ceph.forget_settings(osd)
    steps.next(f"Removing the data of OSD {osd}")
    if data_dir.exists():
        shutil.rmtree(data_dir)
    if device is not None:
        with contextlib.suppress(FileNotFoundError):  # gone: only with force (see above)
            wipe_label(device)
    steps.next(f"Removing OSD {osd} from the cluster state")
    forget_osd(env.store, osd)


def forget_osd(store: Store, osd: int) -> None:
    """Delete the OSD's record (gone already is fine: the publisher drops records of OSDs
    that Ceph no longer has)."""
    for _ in range(5):
        if not store.exists("osd", osd=str(osd)):
            return
        try:
            store.txn().delete_tree(store.path("osd", osd=str(osd))).commit()
            return
        except (NotFound, Conflict):
            continue  # the publisher wrote in between: look again
    raise BackendError(f"Could not delete the record of OSD {osd}: it kept changing")


def _block_target(data_dir: Path) -> Path | None:
    """The device an OSD's `block` symlink names."""
    try:
        return Path(os.path.realpath(data_dir / "block", strict=True))
    except OSError:
        link = data_dir / "block"
        return Path(os.readlink(link)) if link.is_symlink() else None


def _wait_safe(env: OsdEnv, steps: Steps, osd: int) -> None:
    last = [""]

    def safe() -> bool:
        ok, why = env.ceph.safe_to_destroy(osd)
        if not ok and why != last[0]:
            steps.note(f"Waiting until OSD {osd} is safe to destroy: {why}")
            last[0] = why
        return ok

    env.ceph.wait(f"OSD {osd} to be safe to destroy", safe, SAFE_TIMEOUT)


@register(catalogue.OSD_REMOVE)
def osd_remove(task: ProgressTask, osd: str, force: bool = False) -> dict[str, Any]:
    """Remove OSD `osd` of this worker's node."""
    steps = Steps(task, REMOVE_STEPS, f"Checking OSD {osd}")
    with worker_env() as env:
        remove_osd(env, steps, str(osd), bool(force), is_rerun(task))
    return progress.finish(task, f"Removed OSD {osd}")

