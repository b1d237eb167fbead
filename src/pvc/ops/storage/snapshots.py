"""RBD snapshots of volumes: Ceph first, then the record (undone if the record fails)."""

from __future__ import annotations

import contextlib
import time

from pvc.common import names
from pvc.common.errors import AlreadyExists, PVCError
from pvc.drivers.storage.base import Storage
from pvc.ops.storage import records
from pvc.state.store import Store


def add(store: Store, storage: Storage, pool: str, volume: str, snapshot: str) -> str:
    records.require_volume(store, pool, volume)
    names.storage_name(snapshot, "snapshot name")
    if store.exists("snapshot", pool=pool, volume=volume, snapshot=snapshot):
        raise AlreadyExists(f'Snapshot "{snapshot}" already exists for volume '
                            f'"{pool}/{volume}"')
    storage.snapshot_create(pool, volume, snapshot)
    try:
        store.txn().create("snapshot", {"timestamp": int(time.time())}, pool=pool,
                           volume=volume, snapshot=snapshot).commit()
    except PVCError:
        with contextlib.suppress(PVCError):
            storage.snapshot_remove(pool, volume, snapshot)
        raise
    return f'Created RBD snapshot "{snapshot}" of volume "{pool}/{volume}".'


def rename(store: Store, storage: Storage, pool: str, volume: str, snapshot: str,
           new_name: str) -> str:
    record = records.require_snapshot(store, pool, volume, snapshot)
    names.storage_name(new_name, "new snapshot name")
    if store.exists("snapshot", pool=pool, volume=volume, snapshot=new_name):
        raise AlreadyExists(f'Snapshot "{new_name}" already exists for volume '
                            f'"{pool}/{volume}"')
    storage.snapshot_rename(pool, volume, snapshot, new_name)
    try:
        (store.txn()
         .create("snapshot", record, pool=pool, volume=volume, snapshot=new_name)
         .delete("snapshot", pool=pool, volume=volume, snapshot=snapshot)
         .commit())
    except PVCError:
        with contextlib.suppress(PVCError):
            storage.snapshot_rename(pool, volume, new_name, snapshot)
        raise
    return f'Renamed RBD snapshot "{snapshot}" to "{new_name}" for volume "{pool}/{volume}".'


def rollback(store: Store, storage: Storage, pool: str, volume: str, snapshot: str) -> str:
    records.require_snapshot(store, pool, volume, snapshot)
    storage.snapshot_rollback(pool, volume, snapshot)
    return f'Rolled back RBD volume "{pool}/{volume}" to snapshot "{snapshot}".'


def remove(store: Store, storage: Storage, pool: str, volume: str, snapshot: str) -> str:
    records.require_snapshot(store, pool, volume, snapshot)
    storage.snapshot_remove(pool, volume, snapshot)
    store.txn().delete("snapshot", pool=pool, volume=volume, snapshot=snapshot).commit()
    return f'Removed RBD snapshot "{snapshot}" of volume "{pool}/{volume}".'
