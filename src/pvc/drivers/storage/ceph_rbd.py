"""RBD volumes, snapshots and locks through librbd (the volume half of `CephStorage`).

Image features: every volume is created with layering, exclusive-lock, object-map,
fast-diff and deep-flatten (Ceph's own default set, fixed here so that a changed
`rbd_default_features` on some node cannot make volumes differ).

* exclusive-lock is what keeps two writers from corrupting a disk. It does not get in
  the way of live migration: librbd hands the lock over cooperatively, so when the
  destination QEMU first writes, it asks the source (paused by then) to release it. It
  is also what `lock_list`/`lock_break` see on a disk whose node died ("auto <n>"
  cookies), and what `lock_break` frees after blocklisting the dead holder.
* object-map and fast-diff (both need exclusive-lock) let removal, copy, resize and
  usage figures skip objects that were never written, which matters for large, mostly
  empty VM disks.
* journaling (mirroring) is left out: it doubles every write.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Final

import rados
import rbd

from pvc.common.errors import InvalidArgument, InvalidState, NotFound
from pvc.drivers.storage.ceph_conn import CephConnection, ceph_errors
from pvc.drivers.storage.ceph_figures import (
    Figures,
    ctime_text,
    feature_names,
    flag_names,
    op_feature_names,
    utc_epoch,
)

VOLUME_FEATURES: Final = (
    rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_EXCLUSIVE_LOCK | rbd.RBD_FEATURE_OBJECT_MAP
    | rbd.RBD_FEATURE_FAST_DIFF | rbd.RBD_FEATURE_DEEP_FLATTEN
)
CLONE_SNAPSHOT_PREFIX: Final = "pvc-clone-"
_USER_SNAPSHOT: Final = getattr(rbd, "RBD_SNAP_NAMESPACE_TYPE_USER", 0)


class CephVolumes:
    """Volume, snapshot and lock methods of the `Storage` protocol."""

    _conn: CephConnection

    # -- helpers ---------------------------------------------------------------
    @contextmanager
    def _image(self, pool: str, name: str, op: str,
               read_only: bool = False) -> Iterator[rbd.Image]:
        with self._conn.ioctx(pool, op) as ioctx:
            with ceph_errors(op, missing=f"volume {pool}/{name}"):
                image = rbd.Image(ioctx, name, read_only=read_only)
            try:
                yield image
            finally:
                image.close()

    @staticmethod
    def _user_snapshots(image: rbd.Image) -> list[dict[str, Any]]:
        return [s for s in image.list_snaps() if s.get("namespace", 0) == _USER_SNAPSHOT]

    # -- volumes ---------------------------------------------------------------
    def volume_names(self, pool: str) -> list[str]:
        op = f"list the volumes of pool {pool}"
        with self._conn.ioctx(pool, op) as ioctx, ceph_errors(op):
            return sorted(str(n) for n in rbd.RBD().list(ioctx))

    def volume_info(self, pool: str, name: str) -> Figures:
        op = f"read volume {pool}/{name}"
        with self._image(pool, name, op, read_only=True) as image, ceph_errors(op):
            stat = image.stat()
            return {
                "name": name,
                "size": int(stat["size"]),
                "objects": int(stat["num_objs"]),
                "order": int(stat["order"]),
                "object_size": int(stat["obj_size"]),
                "block_name_prefix": str(stat["block_name_prefix"]),
                "format": 1 if image.old_format() else 2,
                "features": feature_names(int(image.features())),
                "flags": flag_names(int(image.flags())),
                "op_features": op_feature_names(int(image.op_features())),
                "snapshot_count": len(self._user_snapshots(image)),
                "id": str(image.id()),
                "create_timestamp": ctime_text(image.create_timestamp()),
                "access_timestamp": ctime_text(image.access_timestamp()),
                "modify_timestamp": ctime_text(image.modify_timestamp()),
            }

    def volume_create(self, pool: str, name: str, size: int) -> None:
        if size <= 0:
            raise InvalidArgument(f"volume size must be positive, not {size}")
        op = f"create volume {pool}/{name}"
        with self._conn.ioctx(pool, op) as ioctx, \
                ceph_errors(op, existing=f"volume {pool}/{name}"):
            rbd.RBD().create(ioctx, name, size, old_format=False, features=VOLUME_FEATURES)

    def volume_resize(self, pool: str, name: str, size: int) -> None:
        op = f"resize volume {pool}/{name}"
        with self._image(pool, name, op) as image, ceph_errors(op):
            current = int(image.size())
            if size < current:
                raise InvalidArgument(
                    f"volume {pool}/{name} cannot shrink from {current} to {size} bytes; "
                    "only growing is allowed")
            if size > current:
                image.resize(size, allow_shrink=False)

    def volume_rename(self, pool: str, name: str, new_name: str) -> None:
        op = f"rename volume {pool}/{name} to {new_name}"
        with self._conn.ioctx(pool, op) as ioctx, ceph_errors(
                op, missing=f"volume {pool}/{name}", existing=f"volume {pool}/{new_name}"):
            rbd.RBD().rename(ioctx, name, new_name)

    def volume_copy(self, pool: str, name: str, new_name: str) -> None:
        op = f"copy volume {pool}/{name} to {new_name}"
        with self._image(pool, name, op, read_only=True) as image, \
                self._conn.ioctx(pool, op) as target, \
                ceph_errors(op, existing=f"volume {pool}/{new_name}"):
            image.copy(target, new_name, features=VOLUME_FEATURES,
                       order=int(image.stat()["order"]))

    def volume_clone(self, pool: str, name: str, new_name: str) -> None:
        # Clone format 2 (the connection sets rbd_default_clone_format): the snapshot
        # needs no protection and, removed at once, waits in the trash namespace until
        # its last clone is gone; it is never one of the volume's own snapshots.
        op = f"clone volume {pool}/{name} to {new_name}"
        snap = f"{CLONE_SNAPSHOT_PREFIX}{uuidlib.uuid4().hex[:12]}"
        with self._image(pool, name, op) as image, ceph_errors(op):
            image.create_snap(snap)
        try:
            with self._conn.ioctx(pool, op) as ioctx, ceph_errors(
                    op, existing=f"volume {pool}/{new_name}"):
                rbd.RBD().clone(ioctx, name, snap, ioctx, new_name, features=VOLUME_FEATURES)
        finally:
            with self._image(pool, name, op) as image, ceph_errors(op):
                image.remove_snap(snap)

    def volume_remove(self, pool: str, name: str) -> None:
        op = f"remove volume {pool}/{name}"
        # Refuse before touching the snapshots if something (a VM) has the image open.
        with self._image(pool, name, op, read_only=True) as image, ceph_errors(op):
            watchers = list(image.watchers_list())
        if watchers:
            addresses = ", ".join(str(w.get("addr", "?")) for w in watchers)
            raise InvalidState(f"volume {pool}/{name} is in use (open by {addresses})")
        with self._image(pool, name, op) as image:
            for snap in self._user_snapshots(image):
                self._drop_snapshot(image, pool, name, str(snap["name"]))
        with self._conn.ioctx(pool, op) as ioctx, ceph_errors(
                op, missing=f"volume {pool}/{name}"):
            try:
                rbd.RBD().remove(ioctx, name)
            except rbd.ImageHasSnapshots:
                raise InvalidState(f"volume {pool}/{name} has linked clones (volumes made "
                                   "from it by the provisioner); remove them first") from None

    def volume_write(self, pool: str, name: str, chunks: Iterator[bytes],
                     offset: int = 0) -> int:
        if offset < 0:
            raise InvalidArgument(f"write offset must not be negative, not {offset}")
        op = f"write to volume {pool}/{name}"
        written = 0
        with self._image(pool, name, op) as image, ceph_errors(op):
            size = int(image.size())
            for chunk in chunks:
                if not chunk:
                    continue
                end = offset + written + len(chunk)
                if end > size:
                    raise InvalidArgument(
                        f"write to volume {pool}/{name} ends at byte {end}, "
                        f"past its size of {size} bytes")
                written += int(image.write(bytes(chunk), offset + written))
            image.flush()
        return written

    def volume_read(self, pool: str, name: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise InvalidArgument("read offset and length must not be negative")
        op = f"read from volume {pool}/{name}"
        with self._image(pool, name, op, read_only=True) as image, ceph_errors(op):
            size = int(image.size())
            if offset >= size or length == 0:
                return b""
            return bytes(image.read(offset, min(length, size - offset)))

    # -- snapshots -------------------------------------------------------------
    def _drop_snapshot(self, image: rbd.Image, pool: str, volume: str, snap: str) -> None:
        op = f"remove snapshot {pool}/{volume}@{snap}"
        with ceph_errors(op, missing=f"snapshot {pool}/{volume}@{snap}"):
            if image.is_protected_snap(snap):
                image.unprotect_snap(snap)
            image.remove_snap(snap)

    def snapshot_list(self, pool: str, volume: str) -> list[Figures]:
        op = f"list the snapshots of volume {pool}/{volume}"
        with self._image(pool, volume, op, read_only=True) as image, ceph_errors(op):
            return [{
                "name": str(snap["name"]),
                "id": int(snap["id"]),
                "size": int(snap["size"]),
                "timestamp": utc_epoch(image.get_snap_timestamp(snap["id"])),
            } for snap in self._user_snapshots(image)]

    def snapshot_create(self, pool: str, volume: str, name: str) -> None:
        op = f"create snapshot {pool}/{volume}@{name}"
        with self._image(pool, volume, op) as image, ceph_errors(
                op, existing=f"snapshot {pool}/{volume}@{name}"):
            image.create_snap(name)

    def snapshot_rename(self, pool: str, volume: str, name: str, new_name: str) -> None:
        op = f"rename snapshot {pool}/{volume}@{name} to {new_name}"
        with self._image(pool, volume, op) as image, ceph_errors(
                op, missing=f"snapshot {pool}/{volume}@{name}",
                existing=f"snapshot {pool}/{volume}@{new_name}"):
            image.rename_snap(name, new_name)

    def snapshot_rollback(self, pool: str, volume: str, name: str) -> None:
        op = f"roll volume {pool}/{volume} back to snapshot {name}"
        with self._image(pool, volume, op) as image, ceph_errors(
                op, missing=f"snapshot {pool}/{volume}@{name}"):
            image.rollback_to_snap(name)

    def snapshot_remove(self, pool: str, volume: str, name: str) -> None:
        with self._image(pool, volume, f"remove snapshot {pool}/{volume}@{name}") as image:
            self._drop_snapshot(image, pool, volume, name)

    # -- locks -----------------------------------------------------------------
    @staticmethod
    def _lockers(image: rbd.Image) -> list[Figures]:
        info = image.list_lockers() or {}
        exclusive = bool(info.get("exclusive", False))
        return [{"locker": str(locker), "cookie": str(cookie), "address": str(address),
                 "exclusive": exclusive}
                for locker, cookie, address in info.get("lockers", [])]

    def lock_list(self, pool: str, volume: str) -> list[Figures]:
        op = f"list the locks of volume {pool}/{volume}"
        with self._image(pool, volume, op, read_only=True) as image, ceph_errors(op):
            return self._lockers(image)

    def lock_break(self, pool: str, volume: str, locker: str, cookie: str) -> None:
        """Blocklist the holder first, then break its lock: a holder that is merely slow,
        not dead, must not write again once the lock is gone."""
        op = f"break lock {locker}/{cookie} on volume {pool}/{volume}"
        missing = f"lock {locker} ({cookie}) on volume {pool}/{volume}"
        with self._image(pool, volume, op, read_only=True) as image:
            with ceph_errors(op):
                held = [lock for lock in self._lockers(image)
                        if lock["locker"] == locker and lock["cookie"] == cookie]
            if not held:
                raise NotFound(f"{missing} does not exist")
            self.blocklist_add(str(held[0]["address"]))
            # ENOENT: the holder let go meanwhile; it is blocklisted all the same.
            with ceph_errors(op), suppress(rbd.ImageNotFound, rados.ObjectNotFound):
                image.break_lock(locker, cookie)

    def blocklist_add(self, address: str) -> None:
        self._conn.command({"prefix": "osd blocklist", "blocklistop": "add", "addr": address},
                           f"blocklist client {address}")
