"""Reading the Ceph records of ZooKeeper (OSDs, pools, volumes, snapshots) into the shapes
the PVC v1 API returns. Lists are a few pipelined reads, whatever their length."""

from __future__ import annotations

import re
from typing import Any

from pvc.common.errors import NotFound
from pvc.common.sizes import human
from pvc.ops.node.records import limit_matcher
from pvc.state.store import Store

PoolView = dict[str, Any]


def exact_human(size: int) -> str:
    """A size in the largest binary unit that divides it ("4G"), else with a decimal."""
    for unit, factor in (("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", 1024**2),
                         ("K", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return human(size) if size >= 1024 else f"{size}B"


def _matches(pattern: re.Pattern[str] | None, name: str) -> bool:
    return pattern is None or bool(pattern.search(name))


def pool_names(store: Store) -> list[str]:
    return sorted(store.children_of(store.path("root.ceph.pools")) or [])


def require_pool(store: Store, pool: str) -> dict[str, Any]:
    record = store.read("pool", default=None, pool=pool)
    if record is None:
        raise NotFound(f'Pool "{pool}" not found')
    return dict(record)


def require_volume(store: Store, pool: str, volume: str) -> dict[str, Any]:
    require_pool(store, pool)
    record = store.read("volume", default=None, pool=pool, volume=volume)
    if record is None:
        raise NotFound(f'Volume "{volume}" not found in pool "{pool}"')
    return dict(record)


def require_snapshot(store: Store, pool: str, volume: str, snapshot: str) -> dict[str, Any]:
    require_volume(store, pool, volume)
    record = store.read("snapshot", default=None, pool=pool, volume=volume, snapshot=snapshot)
    if record is None:
        raise NotFound(f'Snapshot "{snapshot}" not found for volume "{pool}/{volume}"')
    return dict(record)


def volume_names(store: Store, pool: str) -> list[str]:
    return sorted(store.children_of(store.path("pool.volumes", pool=pool)) or [])


def list_pools(store: Store, limit: str | None = None) -> list[PoolView]:
    pattern = limit_matcher(limit)
    chosen = [p for p in pool_names(store) if _matches(pattern, p)]
    values = store.read_many([(k, {"pool": p}) for p in chosen for k in ("pool", "pool.stats")])
    counts = [store.children_of(store.path("pool.volumes", pool=p)) for p in chosen]
    out = []
    for i, name in enumerate(chosen):
        record, stats = values[2 * i] or {}, values[2 * i + 1] or {}
        out.append({
            "name": name,
            "tier": record.get("tier", "default"),
            "pgs": int(record.get("pgs", 0)),
            "copies": record.get("copies"),
            "mincopies": record.get("mincopies"),
            "volume_count": len(counts[i] or []),
            "stats": {"id": 0, "stored_bytes": 0, "used_bytes": 0, "free_bytes": 0,
                      "used_percent": 0.0, "num_objects": 0, "num_object_clones": 0,
                      "num_object_copies": 0, "num_objects_degraded": 0,
                      "num_objects_unfound": 0, "num_objects_missing_on_primary": 0,
                      "read_ops": 0, "read_bytes": 0, "write_ops": 0, "write_bytes": 0,
                      **stats},
        })
    return out


def get_pool(store: Store, pool: str) -> PoolView:
    require_pool(store, pool)
    return next(p for p in list_pools(store, f"^{re.escape(pool)}$"))


def volume_view(pool: str, name: str, stats: dict[str, Any] | None) -> dict[str, Any]:
    stats = dict(stats or {})
    size = stats.get("size")
    if isinstance(size, int):
        stats["size_bytes"] = size
        stats["size"] = exact_human(size)
    return {"name": name, "pool": pool, "stats": stats}


def list_volumes(store: Store, limit: str | None = None,
                 pool: str | None = None) -> list[dict[str, Any]]:
    pattern = limit_matcher(limit)
    pools = [pool] if pool else pool_names(store)
    if pool:
        require_pool(store, pool)
    pairs = [(p, v) for p in pools for v in volume_names(store, p) if _matches(pattern, v)]
    stats = store.read_many([("volume.stats", {"pool": p, "volume": v}) for p, v in pairs])
    return [volume_view(p, v, s) for (p, v), s in zip(pairs, stats, strict=True)]


def get_volume(store: Store, pool: str, volume: str) -> dict[str, Any]:
    require_volume(store, pool, volume)
    return volume_view(pool, volume, store.read("volume.stats", default={}, pool=pool,
                                                volume=volume))


def snapshot_names(store: Store, pool: str, volume: str) -> list[str]:
    return sorted(store.children_of(store.path("volume.snapshots", pool=pool, volume=volume))
                  or [])


def list_snapshots(store: Store, limit: str | None = None, pool: str | None = None,
                   volume: str | None = None) -> list[dict[str, Any]]:
    pattern = limit_matcher(limit)
    if pool:
        require_pool(store, pool)
    pools = [pool] if pool else pool_names(store)
    triples = []
    for p in pools:
        volumes = [volume] if volume else volume_names(store, p)
        for v in volumes:
            triples += [(p, v, s) for s in snapshot_names(store, p, v) if _matches(pattern, s)]
    records = store.read_many([("snapshot", {"pool": p, "volume": v, "snapshot": s})
                               for p, v, s in triples])
    return [{"pool": p, "volume": v, "snapshot": s, **(r or {})}
            for (p, v, s), r in zip(triples, records, strict=True)]


def get_snapshot(store: Store, pool: str, volume: str, snapshot: str) -> dict[str, Any]:
    record = require_snapshot(store, pool, volume, snapshot)
    return {"pool": pool, "volume": volume, "snapshot": snapshot, **record}


def osd_ids(store: Store) -> list[str]:
    return sorted(store.children_of(store.path("root.ceph.osds")) or [], key=int)


def list_osds(store: Store, limit: str | None = None) -> list[dict[str, Any]]:
    pattern = limit_matcher(limit)
    ids = [i for i in osd_ids(store) if _matches(pattern, i)]
    values = store.read_many([(k, {"osd": i}) for i in ids for k in ("osd", "osd.stats")])
    out = []
    for n, osd in enumerate(ids):
        record, stats = values[2 * n] or {}, values[2 * n + 1] or {}
        out.append({
            "id": osd,
            "node": record.get("node", stats.get("node", "")),
            "device": record.get("device", ""),
            "db_device": record.get("db_device", ""),
            "is_split": bool(record.get("is_split", False)),
            "stats": {"node": record.get("node", ""), **stats},
        })
    return out


def get_osd(store: Store, osd: str) -> dict[str, Any]:
    if not store.exists("osd", osd=osd):
        raise NotFound(f"OSD {osd} not found")
    return next(o for o in list_osds(store) if o["id"] == str(int(osd)))
