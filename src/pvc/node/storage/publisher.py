"""The primary's view of Ceph, published to ZooKeeper every few seconds: the texts of
`ceph status` and `ceph df`, the health, and the figures of every OSD and pool, so that
API listings are reads of ZooKeeper (fast, and still there when Ceph is slow).

It also keeps the OSD and pool records in step with Ceph: OSDs and pools made outside the
API (by the installer or by hand) are adopted, and records of OSDs that Ceph no longer
has are dropped. Only changed values are written, in one transaction per round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pvc.common import names
from pvc.common.errors import InvalidArgument
from pvc.common.sizes import human
from pvc.drivers.storage.base import Figures, Storage
from pvc.node.primary.loop import PrimaryLoop
from pvc.state.store import Store, Txn

log = logging.getLogger(__name__)
INTERNAL_POOLS = (".mgr", "device_health_metrics")
Update = tuple[str, dict[str, Any], Any]  # key, its parameters, the value to hold


def osd_stats(fig: Figures) -> dict[str, Any]:
    """OSD figures in the API's shape (used/avail as readable text, as PVC)."""
    out = dict(fig)
    out["used_kb"], out["avail_kb"] = int(fig.get("used", 0)), int(fig.get("avail", 0))
    out["used"], out["avail"] = human(out["used_kb"] * 1024), human(out["avail_kb"] * 1024)
    return out


def pool_stats(fig: Figures) -> dict[str, Any]:
    return {k: v for k, v in fig.items() if k not in ("name",)}


class StoragePublisher(PrimaryLoop):
    name = "storage-publisher"
    failed_text = "Cannot publish Ceph figures: %s"
    recovered_text = "Ceph figures are being published again"

    def __init__(self, store: Store, storage: Storage, is_primary: Callable[[], bool],
                 interval: float = 5.0) -> None:
        super().__init__(is_primary, interval)
        self.store = store
        self.storage = storage

    def round(self) -> None:
        self.publish()

    # -- one round -----------------------------------------------------------
    def publish(self) -> None:
        status, util, health = (self.storage.status_text(), self.storage.df_text(),
                                self.storage.health())
        osds, pools = self.storage.osd_list(), self.storage.pool_list()
        txn = self.store.txn()
        figures: list[Update] = [("ceph.status", {}, status), ("ceph.util", {}, util),
                                 ("ceph.health", {}, health)]
        figures += self._osds(txn, osds)
        figures += self._pools(txn, pools)
        self._set_changed(txn, figures)
        txn.commit()

    def _set_changed(self, txn: Txn, updates: list[Update]) -> None:
        """Write the values that differ from what ZooKeeper holds (one pipelined read)."""
        current = self.store.read_many([(key, params) for key, params, _ in updates])
        for (key, params, value), now in zip(updates, current, strict=True):
            if now is None:
                txn.create(key, value, **params)
            elif now != value:
                txn.set(key, value, **params)

    def _osds(self, txn: Txn, osds: list[Figures]) -> list[Update]:
        """Adopt new OSDs and drop gone ones in `txn`; the known OSDs' figures."""
        known = set(self.store.children("root.ceph.osds"))
        seen = set()
        updates: list[Update] = []
        for fig in osds:
            osd = str(fig["id"])
            seen.add(osd)
            if osd not in known:
                txn.create("osd", {"node": fig.get("node", ""), "device": "",
                                   "db_device": "", "is_split": False}, osd=osd)
                txn.create("osd.stats", osd_stats(fig), osd=osd)
            else:
                updates.append(("osd.stats", {"osd": osd}, osd_stats(fig)))
        for osd in known - seen:
            txn.delete_tree(self.store.path("osd", osd=osd))
        return updates

    def _pools(self, txn: Txn, pools: list[Figures]) -> list[Update]:
        """Adopt pools made outside the API in `txn`; the known pools' figures."""
        known = set(self.store.children("root.ceph.pools"))
        updates: list[Update] = []
        for fig in pools:
            name = str(fig["name"])
            if name in INTERNAL_POOLS:
                continue
            if name in known:
                updates.append(("pool.stats", {"pool": name}, pool_stats(fig)))
                continue
            try:
                names.storage_name(name, "pool name")
            except InvalidArgument:
                continue
            record = {"pgs": int(fig.get("pg_num", 0)), "tier": "default",
                      "copies": int(fig.get("size", 0)),
                      "mincopies": int(fig.get("min_size", 0))}
            (txn.create("pool", record, pool=name)
             .create("pool.stats", pool_stats(fig), pool=name)
             .create("pool.volumes", "", pool=name)
             .create("pool.snapshots", "", pool=name))
        return updates
