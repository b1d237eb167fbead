"""The marker of an OSD add in progress on a node, and what the next OSD task does about
one that a dead worker left.

`osd.add` writes the marker (`node.osd_add`: the device and the uuid the new OSD gets)
after the device was found free and before `osd new` allocates an id, and clears it once
the OSD is recorded or everything was undone. A worker killed in between (the task is
then delivered again, or never) leaves the marker; the node's next OSD task, under the
node's OSD lock so that no other add of the node is running, settles it first:

- the OSD was recorded already (the worker died just before reporting): the add is done,
  and the same add delivered again answers with that OSD;
- else its leftovers go: the daemon, the id (found by its uuid: purged with its key and
  CRUSH item), its settings, its data directory (only if it is the one this add made),
  and the BlueStore label on the device (the device had none when the add began).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from pvc.node.services import osd_service
from pvc.tasks.storage.osd.device import has_label, wipe_label
from pvc.tasks.storage.osd.env import OsdEnv, Steps

KEY = "node.osd_add"


def mark(env: OsdEnv, device: str, osd_uuid: str) -> None:
    _put(env, {"device": device, "uuid": osd_uuid, "since": time.time()})


def clear(env: OsdEnv) -> None:
    _put(env, {})


def _put(env: OsdEnv, value: dict[str, Any]) -> None:
    """Set the marker (made first on a node registered before schema v6 had it)."""
    txn = env.store.txn()
    if env.store.exists(KEY, node=env.node):
        txn.set(KEY, value, node=env.node)
    else:
        txn.create(KEY, value, node=env.node)
    txn.commit()


def read(env: OsdEnv) -> dict[str, Any]:
    marker = env.store.read(KEY, default={}, node=env.node)
    ok = isinstance(marker, dict) and marker.get("device") and marker.get("uuid")
    return marker if ok else {}


def settle(env: OsdEnv, steps: Steps) -> tuple[str, int] | None:
    """Settle an add that a dead worker left on this node: (device, OSD id) if that add
    had finished, else None once its leftovers are gone (or there was none)."""
    marker = read(env)
    if not marker:
        return None
    device, osd_uuid = str(marker["device"]), str(marker["uuid"])
    osd = env.ceph.id_of(osd_uuid)
    if osd is not None and _recorded(env, device, osd, osd_uuid):
        clear(env)
        return device, osd
    steps.note(f"Undoing an unfinished add of an OSD on {device} (its worker stopped)")
    if osd is not None:
        env.services.stop(osd_service(osd))
        env.ceph.forget_settings(osd)
        env.ceph.purge_stopped(osd)
        _remove_data_dir(env.ceph.data_dir(osd), osd_uuid)
    _wipe_our_label(Path(device))
    clear(env)
    return None


def _recorded(env: OsdEnv, device: str, osd: int, osd_uuid: str) -> bool:
    """Whether the cluster state records OSD `osd` as this add's (node, device, uuid)."""
    record = env.store.read("osd", default={}, osd=str(osd))
    return isinstance(record, dict) and (record.get("node"), record.get("device"),
                                         record.get("uuid")) == (env.node, device, osd_uuid)


def _remove_data_dir(data_dir: Path, osd_uuid: str) -> None:
    """Remove the data directory if this add made it: it holds only the key written
    before `--mkfs`, or `--mkfs` wrote our uuid into it."""
    if not data_dir.is_dir():
        return
    fsid = data_dir / "fsid"
    try:
        ours = fsid.read_text().strip() == osd_uuid if fsid.exists() else {
            p.name for p in data_dir.iterdir()} <= {"keyring"}
    except OSError:
        ours = False
    if ours:
        shutil.rmtree(data_dir)


def _wipe_our_label(device: Path) -> None:
    try:
        labelled = has_label(device)
    except OSError:
        return  # gone, or not readable: nothing of ours to wipe
    if labelled:
        wipe_label(device)

