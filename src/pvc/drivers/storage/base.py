"""The storage driver contract: what the rest of PVC asks of Ceph.

`pvc.drivers.storage.ceph.CephStorage` is the real backend (librados/librbd through
Debian's python3-rados and python3-rbd, `mon_command` for the monitor commands). Names
given to these methods are already validated by `pvc.common.names`; sizes are bytes.
Every failure is a `pvc.common.errors` exception: `NotFound` for a missing pool, image,
snapshot or OSD, `AlreadyExists` for a taken name, `InvalidArgument` for what Ceph refuses
as malformed (e.g. shrinking), `BackendError` for the rest.

Figures are plain dicts whose keys are the PVC v1 API's field names, so that the API can
publish them unchanged:

* OSD (`osd_list`): id (int), node (CRUSH host), up, in (0/1), weight, reweight,
  kb, used, avail (KiB, int), utilization (%), var, pgs, state (list of str),
  wr_ops, wr_data, rd_ops, rd_data (int counters), uuid, primary_affinity.
* Pool (`pool_list`): name, id, size (copies), min_size, pg_num, stored_bytes,
  used_bytes, free_bytes (max_avail), used_percent (fraction 0..1), num_objects,
  num_object_clones, num_object_copies, num_objects_degraded, num_objects_unfound,
  num_objects_missing_on_primary, read_ops, read_bytes, write_ops, write_bytes.
* Volume (`volume_info`): name, size (bytes, int), objects, order, object_size,
  block_name_prefix, format, features (list of str), flags, op_features,
  snapshot_count, id, create_timestamp, access_timestamp, modify_timestamp.
* Snapshot (`snapshot_list`): name, id, size (bytes), timestamp (epoch seconds, float).
* Lock (`lock_list`): locker (e.g. "client.4123"), cookie, address ("ip:port/nonce"),
  exclusive (bool).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

Figures = dict[str, Any]

# Cluster-wide OSD flags that `ceph osd set/unset` accepts and PVC exposes.
OSD_FLAGS = (
    "noout", "noup", "nodown", "noin", "nobackfill", "norebalance", "norecover",
    "noscrub", "nodeep-scrub", "notieragent", "pause", "full", "sortbitwise",
    "recovery_deletes", "require_jewel_osds", "require_kraken_osds",
)


class Storage(Protocol):
    # -- cluster -----------------------------------------------------------
    def status_text(self) -> str:
        """What `ceph status` prints."""
        ...

    def df_text(self) -> str:
        """What `ceph df` prints."""
        ...

    def health(self) -> Figures:
        """{"status": "HEALTH_OK|WARN|ERR", "checks": {name: summary message}}."""
        ...

    def set_flag(self, flag: str, on: bool) -> None:
        """`ceph osd set|unset <flag>` (flag one of OSD_FLAGS)."""
        ...

    # -- OSDs --------------------------------------------------------------
    def osd_list(self) -> list[Figures]: ...

    def osd_set_in(self, osd: int, inside: bool) -> None:
        """`ceph osd in|out <id>`."""
        ...

    # -- pools -------------------------------------------------------------
    def pool_list(self) -> list[Figures]: ...

    def pool_create(self, name: str, pgs: int, copies: int, mincopies: int,
                    tier: str | None = None) -> None:
        """A replicated pool with the rbd application; `tier` (hdd/ssd/nvme) uses a
        device-class CRUSH rule `<tier>_tier`, created when missing."""
        ...

    def pool_set_pgs(self, name: str, pgs: int) -> None: ...

    def pool_remove(self, name: str) -> None:
        """Delete the pool and everything in it."""
        ...

    # -- volumes -----------------------------------------------------------
    def volume_names(self, pool: str) -> list[str]: ...

    def volume_info(self, pool: str, name: str) -> Figures: ...

    def volume_create(self, pool: str, name: str, size: int) -> None: ...

    def volume_resize(self, pool: str, name: str, size: int) -> None:
        """Grow only: a smaller size is InvalidArgument."""
        ...

    def volume_rename(self, pool: str, name: str, new_name: str) -> None: ...

    def volume_copy(self, pool: str, name: str, new_name: str) -> None:
        """A full, independent copy (`rbd copy`)."""
        ...

    def volume_clone(self, pool: str, name: str, new_name: str) -> None:
        """A linked (copy-on-write) clone of the volume as it is now: made at once, it
        reads what it has not written from its source, which cannot be removed while
        the clone exists."""
        ...

    def volume_remove(self, pool: str, name: str) -> None:
        """Purge the volume's snapshots, then remove it."""
        ...

    def volume_write(self, pool: str, name: str, chunks: Iterator[bytes],
                     offset: int = 0) -> int:
        """Write the chunks in order from `offset`; returns the bytes written."""
        ...

    def volume_read(self, pool: str, name: str, offset: int, length: int) -> bytes: ...

    # -- snapshots ---------------------------------------------------------
    def snapshot_list(self, pool: str, volume: str) -> list[Figures]: ...

    def snapshot_create(self, pool: str, volume: str, name: str) -> None: ...

    def snapshot_rename(self, pool: str, volume: str, name: str, new_name: str) -> None: ...

    def snapshot_rollback(self, pool: str, volume: str, name: str) -> None: ...

    def snapshot_remove(self, pool: str, volume: str, name: str) -> None: ...

    # -- locks -------------------------------------------------------------
    def lock_list(self, pool: str, volume: str) -> list[Figures]: ...

    def lock_break(self, pool: str, volume: str, locker: str, cookie: str) -> None:
        """Break one lock and blocklist its holder's address (as `rbd lock remove`)."""
        ...

    # -- lifetime ----------------------------------------------------------
    def close(self) -> None:
        """Release the connection to the backend (at shutdown)."""
        ...
