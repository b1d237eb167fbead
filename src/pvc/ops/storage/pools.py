"""Pools: validate, change Ceph through the storage driver, then record in ZooKeeper in
one transaction. A Ceph change whose record cannot be written is undone."""

from __future__ import annotations

import contextlib
import re

from pvc.common import names
from pvc.common.errors import AlreadyExists, InvalidArgument, PVCError
from pvc.drivers.storage.base import Storage
from pvc.ops.storage import records
from pvc.state.store import Store

TIERS = ("default", "hdd", "ssd", "nvme")
MAX_PGS = 32768
CONFIRM = "yes"


def parse_replcfg(text: str) -> tuple[int, int]:
    """`copies=3,mincopies=2` -> (3, 2)."""
    m = re.fullmatch(r"\s*copies=(\d{1,2})\s*,\s*mincopies=(\d{1,2})\s*", text or "")
    if not m:
        raise InvalidArgument(f"Invalid replication configuration {text!r}: use "
                              "copies=N,mincopies=M (e.g. copies=3,mincopies=2)")
    copies, mincopies = int(m.group(1)), int(m.group(2))
    if not 1 <= copies <= 10:
        raise InvalidArgument(f"Invalid replication configuration {text!r}: copies must be 1-10")
    if not 1 <= mincopies <= copies:
        raise InvalidArgument(f"Invalid replication configuration {text!r}: mincopies must be "
                              f"between 1 and copies ({copies})")
    return copies, mincopies


def check_pgs(pgs: int) -> int:
    if not isinstance(pgs, int) or pgs < 1 or pgs > MAX_PGS or pgs & (pgs - 1):
        raise InvalidArgument(f"Invalid PG count {pgs!r}: it must be a power of two "
                              f"between 1 and {MAX_PGS}")
    return pgs


def check_tier(tier: str | None) -> str:
    value = tier or "default"
    if value not in TIERS:
        raise InvalidArgument(f"Invalid tier {tier!r}: use one of {', '.join(TIERS)}")
    return value


def add(store: Store, storage: Storage, pool: str, pgs: int, replcfg: str,
        tier: str | None = None) -> str:
    names.storage_name(pool, "pool name")
    check_pgs(pgs)
    copies, mincopies = parse_replcfg(replcfg)
    tier_name = check_tier(tier)
    if store.exists("pool", pool=pool):
        raise AlreadyExists(f'Pool "{pool}" already exists')
    if any(p["name"] == pool for p in storage.pool_list()):
        raise AlreadyExists(f'A Ceph pool named "{pool}" already exists (not managed by PVC)')
    storage.pool_create(pool, pgs, copies, mincopies,
                        None if tier_name == "default" else tier_name)
    try:
        record_pool(store, pool, pgs, tier_name, copies, mincopies)
    except PVCError:
        with contextlib.suppress(PVCError):
            storage.pool_remove(pool)
        raise
    return f'Created new RBD pool "{pool}" with {pgs} PGs, replication {replcfg}' + (
        f", tier {tier_name}." if tier_name != "default" else ".")


def record_pool(store: Store, pool: str, pgs: int, tier: str, copies: int,
                mincopies: int) -> None:
    record = {"pgs": pgs, "tier": tier, "copies": copies, "mincopies": mincopies}
    try:
        (store.txn()
         .create("pool", record, pool=pool)
         .create("pool.stats", {}, pool=pool)
         .create("pool.volumes", "", pool=pool)
         .create("pool.snapshots", "", pool=pool)
         .commit())
    except AlreadyExists:
        # the primary's publisher adopted the new pool first: keep its records, with ours
        store.write("pool", record, pool=pool)


def set_pgs(store: Store, storage: Storage, pool: str, pgs: int) -> str:
    check_pgs(pgs)
    records.require_pool(store, pool)
    record, version = store.read_versioned("pool", pool=pool)
    storage.pool_set_pgs(pool, pgs)
    store.write("pool", {**record, "pgs": pgs}, version=version, pool=pool)
    return f'Set PGs count to {pgs} for RBD pool "{pool}".'


def remove(store: Store, storage: Storage, pool: str, confirm: str | None) -> str:
    records.require_pool(store, pool)
    if confirm != CONFIRM:
        raise InvalidArgument(f'Removing pool "{pool}" deletes every volume in it; confirm '
                              "with yes-i-really-mean-it=yes")
    storage.pool_remove(pool)
    (store.txn()
     .delete_tree(store.path("pool.snapshots", pool=pool))
     .delete_tree(store.path("pool.volumes", pool=pool))
     .delete_tree(store.path("pool", pool=pool))
     .commit())
    return f'Removed RBD pool "{pool}" and all volumes.'
