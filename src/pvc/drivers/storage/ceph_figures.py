"""Turning Ceph's JSON (and one table) into the figure dicts of `base.py`.

Pure functions, no I/O: `ceph.py` fetches, these merge.

Per-OSD I/O (`wr_ops`, `wr_data`, `rd_ops`, `rd_data`): the only place the manager
exposes it cheaply is the `osd status` command of its always-on `status` module, which in
Pacific prints a table only (it ignores `format=json`). Its figures are the manager's
current per-second rates of the OSD perf counters `op_w`+`op_rw`, `op_in_bytes`, `op_r`
and `op_out_bytes`, printed with unit suffixes (k/M/G: powers of 1000 for ops, of 1024
for bytes) and about four significant digits. `parse_osd_status` turns them back into
integers; an OSD missing from the table gets zeros.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import rbd

Figures = dict[str, Any]

# (bit, name) in the order `rbd info` prints them.
_FEATURES: Final = (
    (rbd.RBD_FEATURE_LAYERING, "layering"),
    (rbd.RBD_FEATURE_STRIPINGV2, "striping"),
    (rbd.RBD_FEATURE_EXCLUSIVE_LOCK, "exclusive-lock"),
    (rbd.RBD_FEATURE_OBJECT_MAP, "object-map"),
    (rbd.RBD_FEATURE_FAST_DIFF, "fast-diff"),
    (rbd.RBD_FEATURE_DEEP_FLATTEN, "deep-flatten"),
    (rbd.RBD_FEATURE_JOURNALING, "journaling"),
    (rbd.RBD_FEATURE_DATA_POOL, "data-pool"),
    (rbd.RBD_FEATURE_OPERATIONS, "operations"),
    (rbd.RBD_FEATURE_MIGRATING, "migrating"),
    (rbd.RBD_FEATURE_NON_PRIMARY, "non-primary"),
)
_OP_FEATURES: Final = (
    (rbd.RBD_OPERATION_FEATURE_CLONE_PARENT, "clone-parent"),
    (rbd.RBD_OPERATION_FEATURE_CLONE_CHILD, "clone-child"),
    (rbd.RBD_OPERATION_FEATURE_GROUP, "group"),
    (rbd.RBD_OPERATION_FEATURE_SNAP_TRASH, "snap-trash"),
)
_FLAGS: Final = (
    (rbd.RBD_FLAG_OBJECT_MAP_INVALID, "object map invalid"),
    (rbd.RBD_FLAG_FAST_DIFF_INVALID, "fast diff invalid"),
)


def bit_names(value: int, table: tuple[tuple[int, str], ...]) -> list[str]:
    names = [name for bit, name in table if value & bit]
    known = 0
    for bit, _ in table:
        known |= bit
    if value & ~known:
        names.append(hex(value & ~known))
    return names


def feature_names(value: int) -> list[str]:
    return bit_names(value, _FEATURES)


def op_feature_names(value: int) -> list[str]:
    return bit_names(value, _OP_FEATURES)


def flag_names(value: int) -> list[str]:
    return bit_names(value, _FLAGS)


def utc_epoch(moment: datetime) -> float:
    """librbd hands out naive datetimes in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def ctime_text(moment: datetime | None) -> str:
    """A timestamp as `rbd info` prints it (C ctime() in local time)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().ctime()


# -- OSDs ----------------------------------------------------------------------
_NUMBER_RE: Final = re.compile(r"^(\d+(?:\.\d+)?)([kKMGTPE]?)$")
_SUFFIX_POWER: Final = {"": 0, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def parse_unit_number(text: str, base: int) -> int:
    """'0', '12', '1.5k', '290M' as printed by the manager's format_units()."""
    match = _NUMBER_RE.match(text.strip())
    if match is None:
        return 0
    return int(float(match.group(1)) * base ** _SUFFIX_POWER[match.group(2)])


def parse_osd_status(table: str) -> dict[int, dict[str, int]]:
    """The I/O columns of `ceph osd status`, keyed by OSD id.

    Columns: ID HOST USED AVAIL WR_OPS WR_DATA RD_OPS RD_DATA STATE. HOST may be empty,
    so rows are read from both ends.
    """
    result: dict[int, dict[str, int]] = {}
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 8 or not fields[0].isdigit():
            continue
        wr_ops, wr_data, rd_ops, rd_data = fields[-5:-1]
        result[int(fields[0])] = {
            "wr_ops": parse_unit_number(wr_ops, 1000),
            "wr_data": parse_unit_number(wr_data, 1024),
            "rd_ops": parse_unit_number(rd_ops, 1000),
            "rd_data": parse_unit_number(rd_data, 1024),
        }
    return result


def crush_hosts(tree: dict[str, Any]) -> dict[int, str]:
    """OSD id -> name of the CRUSH host bucket that holds it (`osd tree`)."""
    hosts: dict[int, str] = {}
    for node in tree.get("nodes", []):
        if node.get("type") == "host":
            for child in node.get("children", []):
                if child >= 0:
                    hosts[int(child)] = str(node.get("name", ""))
    return hosts


def osd_figures(df: dict[str, Any], dump: dict[str, Any], tree: dict[str, Any],
                io: dict[int, dict[str, int]]) -> list[Figures]:
    """Merge `osd df`, `osd dump`, `osd tree` and the `osd status` I/O rates."""
    usage = {int(n["id"]): n for n in [*df.get("nodes", []), *df.get("stray", [])]}
    hosts = crush_hosts(tree)
    figures: list[Figures] = []
    for osd in sorted(dump.get("osds", []), key=lambda o: int(o["osd"])):
        osd_id = int(osd["osd"])
        use = usage.get(osd_id, {})
        rates = io.get(osd_id, {})
        figures.append({
            "id": osd_id,
            "node": hosts.get(osd_id, ""),
            "up": int(osd.get("up", 0)),
            "in": int(osd.get("in", 0)),
            "weight": float(use.get("crush_weight", 0.0)),
            "reweight": float(use.get("reweight", osd.get("weight", 0.0))),
            "kb": int(use.get("kb", 0)),
            "used": int(use.get("kb_used", 0)),
            "avail": int(use.get("kb_avail", 0)),
            "utilization": float(use.get("utilization", 0.0)),
            "var": float(use.get("var", 0.0)),
            "pgs": int(use.get("pgs", 0)),
            "state": [str(s) for s in osd.get("state", [])],
            "wr_ops": rates.get("wr_ops", 0),
            "wr_data": rates.get("wr_data", 0),
            "rd_ops": rates.get("rd_ops", 0),
            "rd_data": rates.get("rd_data", 0),
            "uuid": str(osd.get("uuid", "")),
            "primary_affinity": float(osd.get("primary_affinity", 1.0)),
        })
    return figures


# -- pools ---------------------------------------------------------------------
def pool_figures(dump: dict[str, Any], df: dict[str, Any],
                 pg_pools: list[dict[str, Any]]) -> list[Figures]:
    """Merge `osd dump` (settings), `df detail` (space, I/O) and `pg dump pools`
    (object counts)."""
    space = {int(p["id"]): p.get("stats", {}) for p in df.get("pools", [])}
    sums = {int(p["poolid"]): p.get("stat_sum", {}) for p in pg_pools}
    figures: list[Figures] = []
    for pool in sorted(dump.get("pools", []), key=lambda p: str(p["pool_name"])):
        pool_id = int(pool["pool"])
        stats = space.get(pool_id, {})
        stat_sum = sums.get(pool_id, {})
        figures.append({
            "name": str(pool["pool_name"]),
            "id": pool_id,
            "size": int(pool.get("size", 0)),
            "min_size": int(pool.get("min_size", 0)),
            "pg_num": int(pool.get("pg_num", 0)),
            "stored_bytes": int(stats.get("stored", 0)),
            "used_bytes": int(stats.get("bytes_used", 0)),
            "free_bytes": int(stats.get("max_avail", 0)),
            "used_percent": float(stats.get("percent_used", 0.0)),
            "num_objects": int(stats.get("objects", stat_sum.get("num_objects", 0))),
            "num_object_clones": int(stat_sum.get("num_object_clones", 0)),
            "num_object_copies": int(stat_sum.get("num_object_copies", 0)),
            "num_objects_degraded": int(stat_sum.get("num_objects_degraded", 0)),
            "num_objects_unfound": int(stat_sum.get("num_objects_unfound", 0)),
            "num_objects_missing_on_primary":
                int(stat_sum.get("num_objects_missing_on_primary", 0)),
            "read_ops": int(stats.get("rd", stat_sum.get("num_read", 0))),
            "read_bytes": int(stats.get("rd_bytes", 0)),
            "write_ops": int(stats.get("wr", stat_sum.get("num_write", 0))),
            "write_bytes": int(stats.get("wr_bytes", 0)),
        })
    return figures


def health_figures(health: dict[str, Any]) -> Figures:
    checks: dict[str, str] = {}
    for name, check in (health.get("checks") or {}).items():
        summary = check.get("summary", {}) if isinstance(check, dict) else {}
        checks[str(name)] = str(summary.get("message", "")) if isinstance(summary, dict) \
            else str(summary)
    return {"status": str(health.get("status", "HEALTH_ERR")), "checks": checks}
