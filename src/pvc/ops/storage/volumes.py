"""RBD volumes: validate, check space and use, change Ceph, record in ZooKeeper.

Space rules (as PVC): a volume (or the growth of one, or a clone) larger than the pool's
free space is refused; one that would take the pool above the safe utilisation (80 % by
default) is refused unless forced.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pvc.common import names
from pvc.common.errors import (
    AlreadyExists,
    InvalidArgument,
    InvalidState,
    NotFound,
    PVCError,
    Unavailable,
)
from pvc.common.sizes import human, parse_size
from pvc.drivers.storage.base import Storage
from pvc.ops.storage import records
from pvc.ops.vm.records import all_uuids, read_vms
from pvc.state.store import Store

FIGURES_WAIT = 15.0


def pool_space(storage: Storage, pool: str, wait: float = FIGURES_WAIT) -> tuple[int, int]:
    """(free, stored) bytes of a pool. A new pool has no figures until the manager's next
    report (all zero): wait for them a little rather than call it full."""
    deadline = time.monotonic() + wait
    while True:
        figures = next((p for p in storage.pool_list() if p["name"] == pool), None)
        if figures is None:
            raise NotFound(f'Pool "{pool}" does not exist in Ceph')
        free, stored = int(figures.get("free_bytes", 0)), int(figures.get("stored_bytes", 0))
        if free or stored:
            return free, stored
        if time.monotonic() > deadline:
            raise Unavailable(f'Ceph has not reported the space of pool "{pool}" yet; '
                              "try again in a few seconds")
        time.sleep(0.5)


def check_space(storage: Storage, pool: str, size: int, force: bool,
                safe: float, what: str) -> None:
    free, stored = pool_space(storage, pool)
    if size > free:
        raise InvalidArgument(f"{what} ({human(size)}) is larger than the free space of pool "
                              f'"{pool}" ({human(free)})')
    total = free + stored
    if not force and stored + size > safe * total:
        raise InvalidArgument(
            f"{what} ({human(size)}) would take pool \"{pool}\" above {safe:.0%} of its "
            f"space ({human(stored)} of {human(total)} used); use force to do it anyway")


def users_of(store: Store, pool: str, volume: str) -> list[str]:
    """The VMs whose XML uses pool/volume."""
    wanted = f"{pool}/{volume}"
    return sorted(r.name for r in read_vms(store, all_uuids(store))
                  if r.spec is not None and wanted in r.spec.rbd_volumes)


def _refuse_if_used(store: Store, pool: str, volume: str, doing: str) -> None:
    users = users_of(store, pool, volume)
    if users:
        raise InvalidState(f'Volume "{pool}/{volume}" is used by VM "{users[0]}"; cannot '
                           f"{doing} it (change the VM first)")


def _stats(storage: Storage, pool: str, volume: str) -> dict[str, Any]:
    return dict(storage.volume_info(pool, volume))


def record_volume(store: Store, storage: Storage, pool: str, volume: str) -> None:
    stats = _stats(storage, pool, volume)
    (store.txn()
     .create("volume", {"created": time.time()}, pool=pool, volume=volume)
     .create("volume.stats", stats, pool=pool, volume=volume)
     .create("volume.snapshots", "", pool=pool, volume=volume)
     .commit())


def _new_name_free(store: Store, pool: str, volume: str) -> None:
    names.storage_name(volume, "volume name")
    if store.exists("volume", pool=pool, volume=volume):
        raise AlreadyExists(f'Volume "{volume}" already exists in pool "{pool}"')


def _create_then_record(store: Store, storage: Storage, pool: str, volume: str,
                        make: Any) -> None:
    make()
    try:
        record_volume(store, storage, pool, volume)
    except PVCError:
        with contextlib.suppress(PVCError):
            storage.volume_remove(pool, volume)
        raise


def add(store: Store, storage: Storage, pool: str, volume: str, size: str,
        force: bool = False, safe: float = 0.8) -> str:
    records.require_pool(store, pool)
    _new_name_free(store, pool, volume)
    size_bytes = parse_size(size, "volume size")
    check_space(storage, pool, size_bytes, force, safe, f'Volume "{volume}"')
    _create_then_record(store, storage, pool, volume,
                        lambda: storage.volume_create(pool, volume, size_bytes))
    return f'Created RBD volume "{pool}/{volume}" of size {records.exact_human(size_bytes)}.'


def resize(store: Store, storage: Storage, pool: str, volume: str, size: str,
           force: bool = False, safe: float = 0.8) -> str:
    records.require_volume(store, pool, volume)
    new = parse_size(size, "volume size")
    old = int(_stats(storage, pool, volume).get("size", 0))
    if new < old:
        raise InvalidArgument(f'Volume "{pool}/{volume}" is {records.exact_human(old)}; '
                              f"shrinking it to {records.exact_human(new)} is not allowed")
    if new > old:
        check_space(storage, pool, new - old, force, safe, f'Growing "{volume}"')
        storage.volume_resize(pool, volume, new)
    store.write("volume.stats", _stats(storage, pool, volume), pool=pool, volume=volume)
    return f'Resized RBD volume "{pool}/{volume}" to size {records.exact_human(new)}.'


def rename(store: Store, storage: Storage, pool: str, volume: str, new_name: str) -> str:
    records.require_volume(store, pool, volume)
    _new_name_free(store, pool, new_name)
    _refuse_if_used(store, pool, volume, "rename")
    storage.volume_rename(pool, volume, new_name)
    try:
        move_records(store, storage, pool, volume, new_name)
    except PVCError:
        with contextlib.suppress(PVCError):
            storage.volume_rename(pool, new_name, volume)
        raise
    return f'Renamed RBD volume "{pool}/{volume}" to "{new_name}".'


def move_records(store: Store, storage: Storage, pool: str, volume: str, new: str) -> None:
    """Re-key a volume's records (and its snapshots') under a new name, in one txn."""
    record = store.read("volume", pool=pool, volume=volume)
    snaps = records.snapshot_names(store, pool, volume)
    snap_records = store.read_many([("snapshot", {"pool": pool, "volume": volume,
                                                  "snapshot": s}) for s in snaps])
    txn = (store.txn()
           .create("volume", record, pool=pool, volume=new)
           .create("volume.stats", _stats(storage, pool, new), pool=pool, volume=new)
           .create("volume.snapshots", "", pool=pool, volume=new))
    for snap, rec in zip(snaps, snap_records, strict=True):
        txn.create("snapshot", rec or {}, pool=pool, volume=new, snapshot=snap)
        txn.delete("snapshot", pool=pool, volume=volume, snapshot=snap)
    (txn.delete("volume.snapshots", pool=pool, volume=volume)
     .delete("volume.stats", pool=pool, volume=volume)
     .delete("volume", pool=pool, volume=volume)
     .commit())


def clone(store: Store, storage: Storage, pool: str, volume: str, new_volume: str,
          force: bool = False, safe: float = 0.8, linked: bool = False) -> str:
    """A full copy (PVC's clone), or with `linked` a copy-on-write clone that shares
    what it does not change with its source (made at once; the source cannot be removed
    while the clone exists)."""
    records.require_volume(store, pool, volume)
    _new_name_free(store, pool, new_volume)
    if not linked:  # a linked clone takes room only as it is written
        size = int(_stats(storage, pool, volume).get("size", 0))
        check_space(storage, pool, size, force, safe, f'Clone "{new_volume}"')
    make = storage.volume_clone if linked else storage.volume_copy
    _create_then_record(store, storage, pool, new_volume,
                        lambda: make(pool, volume, new_volume))
    return f'Cloned RBD volume "{pool}/{volume}" to "{pool}/{new_volume}".'


def remove(store: Store, storage: Storage, pool: str, volume: str) -> str:
    records.require_volume(store, pool, volume)
    _refuse_if_used(store, pool, volume, "remove")
    storage.volume_remove(pool, volume)
    forget(store, pool, volume)
    return f'Removed RBD volume "{pool}/{volume}".'


def forget(store: Store, pool: str, volume: str) -> None:
    """Delete a volume's records (and its snapshots') in one transaction."""
    (store.txn()
     .delete_tree(store.path("volume.snapshots", pool=pool, volume=volume))
     .delete_tree(store.path("volume", pool=pool, volume=volume))
     .commit())


def scan(store: Store, storage: Storage, pool: str, volume: str) -> str:
    """Adopt (or refresh) a volume that exists in Ceph, with its snapshots."""
    records.require_pool(store, pool)
    names.storage_name(volume, "volume name")
    stats = _stats(storage, pool, volume)  # NotFound if Ceph has no such image
    snaps = storage.snapshot_list(pool, volume)
    if not store.exists("volume", pool=pool, volume=volume):
        record_volume(store, storage, pool, volume)
    else:
        store.write("volume.stats", stats, pool=pool, volume=volume)
    known = set(records.snapshot_names(store, pool, volume))
    txn = store.txn()
    for snap in snaps:
        if snap["name"] not in known:
            txn.create("snapshot", {"timestamp": snap.get("timestamp", 0)},
                       pool=pool, volume=volume, snapshot=snap["name"])
    txn.commit()
    return f'Scanned RBD volume "{pool}/{volume}" ({len(snaps)} snapshots).'
