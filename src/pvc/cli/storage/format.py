"""Pretty formats of the `pvc storage` commands: Ceph status, OSD, pool, volume and
snapshot lists (the `GET /storage/ceph/...` objects).

Fields may be missing (an OSD the keepalive has not reported yet, a volume not scanned):
such cells show N/A rather than failing the whole table.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from pvc.cli.render import BAD, GOOD, NOTE, WARN, Cell, Column, cell, table
from pvc.common.sizes import human

NA = "N/A"


def _sub(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _dicts(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        return [data]
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def to_number(value: Any) -> float | None:
    """An int, a float or a numeric string as a number; anything else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def size_text(value: Any, scale: int = 1) -> str:
    """A byte count (times `scale`) in binary units ("3.0G"); other strings as they are."""
    amount = to_number(value)
    if amount is not None:
        return human(amount * scale)
    return NA if value is None or value == "" else str(value)


def ops_text(value: Any) -> str:
    """An operation count or rate, shortened with SI units ("12.3K")."""
    amount = to_number(value)
    if amount is None:
        return NA if value is None or value == "" else str(value)
    for unit in ("", "K", "M", "G", "T"):
        if abs(amount) < 1000 or unit == "T":
            return f"{int(amount)}" if unit == "" else f"{amount:.1f}{unit}"
        amount /= 1000
    raise AssertionError("unreachable")


def count_text(value: Any) -> str:
    amount = to_number(value)
    if amount is None:
        return NA if value is None or value == "" else str(value)
    return str(int(amount)) if float(amount).is_integer() else f"{amount:.2f}"


def weight_text(value: Any) -> str:
    """A CRUSH weight or reweight: up to four decimals, as small weights need them."""
    amount = to_number(value)
    if amount is None:
        return NA if value is None or value == "" else str(value)
    return str(round(float(amount), 4))


def percent_text(value: Any, scale: float = 1.0) -> tuple[str, str]:
    """A percentage (value times `scale`) with two decimals, and its style."""
    amount = to_number(value)
    if amount is None:
        return NA, ""
    amount *= scale
    style = BAD if amount >= 80 else WARN if amount >= 60 else ""
    return f"{amount:.2f}", style


def _yes_no(value: Any) -> Cell:
    amount = to_number(value)
    if amount is None:
        return cell(None)
    return cell("Yes", GOOD) if amount == 1 else cell("No", BAD)


# -- Ceph status and utilisation ---------------------------------------------
def ceph_pretty(data: Any) -> list[Text]:
    data = data if isinstance(data, dict) else {}
    kind = str(data.get("type", "status"))
    head = Text.assemble(
        (f"Ceph cluster {kind} (primary node ", "bold"),
        (str(data.get("primary_node", NA)), NOTE),
        (")", "bold"),
    )
    body = str(data.get("ceph_data", "")).rstrip("\n")
    return [head, Text(""), *(Text(line) for line in body.splitlines())]


def ceph_raw(data: Any) -> str:
    data = data if isinstance(data, dict) else {}
    return str(data.get("ceph_data", "")).rstrip("\n")


# -- OSDs ----------------------------------------------------------------------
OSD_GROUPS = (("OSDs", 4), ("States", 2), ("Resources", 7), ("Read", 2), ("Write", 2))
OSD_COLUMNS = (
    Column("ID", right=True),
    Column("Node"),
    Column("Block"),
    Column("DB Block"),
    Column("Up"),
    Column("In"),
    Column("Size", right=True),
    Column("PGs", right=True),
    Column("Wt", right=True),
    Column("ReWt", right=True),
    Column("Used", right=True),
    Column("Free", right=True),
    Column("Util%", right=True),
    Column("OPS", right=True),
    Column("Data", right=True),
    Column("OPS", right=True),
    Column("Data", right=True),
)


def _osd_key(osd: dict[str, Any]) -> tuple[int, str]:
    number = to_number(osd.get("id"))
    return (int(number) if number is not None else 1 << 30, str(osd.get("id", "")))


def osd_row(osd: dict[str, Any]) -> list[Cell]:
    stats = _sub(osd, "stats")
    util, util_style = percent_text(stats.get("utilization"))
    node = osd.get("node") or stats.get("node")
    kb = stats.get("kb")
    return [
        cell(osd.get("id"), "bold"),
        cell(node or None),
        cell(osd.get("device") or None),
        cell(osd.get("db_device") or None),
        _yes_no(stats.get("up")),
        _yes_no(stats.get("in")),
        size_text(kb, 1024) if to_number(kb) else NA,
        count_text(stats.get("pgs")),
        weight_text(stats.get("weight")),
        weight_text(stats.get("reweight")),
        size_text(stats.get("used")),
        size_text(stats.get("avail")),
        cell(util, util_style),
        ops_text(stats.get("rd_ops")),
        size_text(stats.get("rd_data")),
        ops_text(stats.get("wr_ops")),
        size_text(stats.get("wr_data")),
    ]


def osd_list_pretty(data: Any) -> list[Text]:
    osds = sorted(_dicts(data), key=_osd_key)
    return table(OSD_COLUMNS, [osd_row(o) for o in osds], OSD_GROUPS)


def osd_list_raw(data: Any) -> str:
    return "\n".join(str(o.get("id")) for o in sorted(_dicts(data), key=_osd_key))


# -- pools ---------------------------------------------------------------------
POOL_GROUPS = (("Pools", 4), ("Space", 4), ("Objects", 4), ("Read", 2), ("Write", 2))
POOL_COLUMNS = (
    Column("ID", right=True),
    Column("Name"),
    Column("Tier"),
    Column("PGs", right=True),
    Column("Stored", right=True),
    Column("Used", right=True),
    Column("Used%", right=True),
    Column("Free", right=True),
    Column("Count", right=True),
    Column("Clones", right=True),
    Column("Copies", right=True),
    Column("Degraded", right=True),
    Column("OPS", right=True),
    Column("Data", right=True),
    Column("OPS", right=True),
    Column("Data", right=True),
)


def pool_row(pool: dict[str, Any]) -> list[Cell]:
    stats = _sub(pool, "stats")
    used, used_style = percent_text(stats.get("used_percent"), 100.0)
    degraded = to_number(stats.get("num_objects_degraded"))
    return [
        count_text(stats.get("id")),
        cell(pool.get("name"), "bold"),
        cell(pool.get("tier") or "default"),
        count_text(pool.get("pgs")),
        size_text(stats.get("stored_bytes")),
        size_text(stats.get("used_bytes")),
        cell(used, used_style),
        size_text(stats.get("free_bytes")),
        count_text(stats.get("num_objects")),
        count_text(stats.get("num_object_clones")),
        count_text(stats.get("num_object_copies")),
        cell(count_text(stats.get("num_objects_degraded")), WARN if degraded else ""),
        ops_text(stats.get("read_ops")),
        size_text(stats.get("read_bytes")),
        ops_text(stats.get("write_ops")),
        size_text(stats.get("write_bytes")),
    ]


def pool_list_pretty(data: Any) -> list[Text]:
    pools = sorted(_dicts(data), key=lambda p: str(p.get("name", "")))
    return table(POOL_COLUMNS, [pool_row(p) for p in pools], POOL_GROUPS)


def pool_list_raw(data: Any) -> str:
    return "\n".join(str(p.get("name")) for p in sorted(_dicts(data), key=lambda p: str(p.get("name", ""))))


# -- volumes -------------------------------------------------------------------
VOLUME_COLUMNS = (
    Column("Name"),
    Column("Pool"),
    Column("Size", right=True),
    Column("Objects", right=True),
    Column("Order", right=True),
    Column("Format", right=True),
    Column("Features"),
)


def _volume_key(volume: dict[str, Any]) -> tuple[str, str]:
    return (str(volume.get("pool", "")), str(volume.get("name", "")))


def volume_row(volume: dict[str, Any]) -> list[Cell]:
    stats = _sub(volume, "stats")
    features = stats.get("features")
    if isinstance(features, list):
        shown = ",".join(str(f) for f in features) or NA
    else:
        shown = NA if features is None else str(features)
    return [
        cell(volume.get("name"), "bold"),
        cell(volume.get("pool")),
        size_text(stats.get("size")),
        count_text(stats.get("objects")),
        count_text(stats.get("order")),
        count_text(stats.get("format")),
        shown,
    ]


def volume_list_pretty(data: Any) -> list[Text]:
    volumes = sorted(_dicts(data), key=_volume_key)
    return table(VOLUME_COLUMNS, [volume_row(v) for v in volumes])


def volume_list_raw(data: Any) -> str:
    volumes = sorted(_dicts(data), key=_volume_key)
    return "\n".join(f"{v.get('pool')}/{v.get('name')}" for v in volumes)


# -- snapshots -----------------------------------------------------------------
SNAPSHOT_COLUMNS = (Column("Name"), Column("Volume"), Column("Pool"))


def _snapshot_key(snap: dict[str, Any]) -> tuple[str, str, str]:
    return (str(snap.get("pool", "")), str(snap.get("volume", "")), str(snap.get("snapshot", "")))


def snapshot_list_pretty(data: Any) -> list[Text]:
    snaps = sorted(_dicts(data), key=_snapshot_key)
    rows: list[list[Cell]] = [
        [cell(s.get("snapshot"), "bold"), cell(s.get("volume")), cell(s.get("pool"))]
        for s in snaps
    ]
    return table(SNAPSHOT_COLUMNS, rows)


def snapshot_list_raw(data: Any) -> str:
    snaps = sorted(_dicts(data), key=_snapshot_key)
    return "\n".join(f"{s.get('pool')}/{s.get('volume')}@{s.get('snapshot')}" for s in snaps)
