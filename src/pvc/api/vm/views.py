"""VM records of `pvc.ops.vm.records` as the plain dicts of the PVC v1 wire.

Kept lean: `GET /vm` builds one of these per VM for every VM of the cluster.
"""

from __future__ import annotations

from typing import Any

from pvc.ops.vm.records import VmRecord

DISK_COUNTERS = ("rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs")
NET_COUNTERS = ("rd_bytes", "rd_packets", "rd_errors", "rd_drops",
                "wr_bytes", "wr_packets", "wr_errors", "wr_drops")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _stats_by(items: Any, key: str) -> dict[str, dict[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {str(i.get(key)): i for i in items if isinstance(i, dict)}


def vnc(value: str) -> dict[str, str]:
    """`domain.vnc` ("listen:port", or empty) as {listen, port}."""
    if not value or ":" not in value:
        return {"listen": "", "port": ""}
    listen, _, port = value.rpartition(":")
    return {"listen": listen, "port": port}


def migrated(last_node: str) -> str:
    return f"from {last_node}" if last_node else "no"


def tag(item: dict[str, Any]) -> dict[str, Any]:
    return {"name": str(item.get("name", "")), "type": str(item.get("type", "user")),
            "protected": bool(item.get("protected", False))}


def _disks(rec: VmRecord, stats: dict[str, Any]) -> list[dict[str, Any]]:
    if rec.spec is None:
        return []
    by_dev = _stats_by(stats.get("disk_stats"), "name") if stats else {}
    out = []
    for d in rec.spec.disks:
        counters = by_dev.get(d.dev, {})
        item: dict[str, Any] = {"type": d.type, "name": d.name, "dev": d.dev, "bus": d.bus}
        for k in DISK_COUNTERS:
            item[k] = _int(counters.get(k))
        out.append(item)
    return out


def _networks(rec: VmRecord, stats: dict[str, Any]) -> list[dict[str, Any]]:
    if rec.spec is None:
        return []
    by_mac = _stats_by(stats.get("net_stats"), "mac") if stats else {}
    out = []
    for n in rec.spec.nics:
        counters = by_mac.get(n.mac, {})
        item: dict[str, Any] = {"type": n.type, "source": n.source, "mac": n.mac,
                                "model": n.model, "vni": n.vni}
        for k in NET_COUNTERS:
            item[k] = _int(counters.get(k))
        out.append(item)
    return out


def vm(rec: VmRecord) -> dict[str, Any]:
    """Everything PVC reports of a VM (a `GET /vm` item and the `GET /vm/{vm}` object)."""
    spec = rec.spec
    st = rec.status
    stats = rec.stats if isinstance(rec.stats, dict) else {}
    last_node = str(st.get("last_node") or "")
    return {
        "name": rec.name,
        "uuid": rec.uuid,
        "description": spec.description if spec else "",
        "profile": str(rec.meta.get("profile") or ""),
        "state": str(st.get("state", "")),
        "node": str(st.get("node", "")),
        "last_node": last_node,
        "migrated": migrated(last_node),
        "failed_reason": str(st.get("failed_reason") or ""),
        "memory": spec.memory_mib if spec else 0,
        "vcpu": spec.vcpus if spec else 0,
        "vcpu_topology": spec.topology if spec else "",
        "vnc": vnc(rec.vnc),
        "type": spec.domain_type if spec else "",
        "arch": spec.arch if spec else "",
        "machine": spec.machine if spec else "",
        "emulator": spec.emulator if spec else "",
        "features": list(spec.features) if spec else [],
        "memory_stats": _dict(stats.get("memory_stats")),
        "vcpu_stats": _dict(stats.get("vcpu_stats")),
        "disks": _disks(rec, stats),
        "networks": _networks(rec, stats),
        "controllers": [dict(c) for c in spec.controllers] if spec else [],
        "tags": [tag(t) for t in rec.tags],
        "snapshots": [],
        **meta_fields(rec),
        "xml": rec.xml,
    }


def state(rec: VmRecord) -> dict[str, Any]:
    return {"name": rec.name, "state": rec.state}


def node(rec: VmRecord) -> dict[str, Any]:
    return {"name": rec.name, "node": rec.node, "last_node": str(rec.status.get("last_node") or "")}


def meta(rec: VmRecord) -> dict[str, Any]:
    return {"name": rec.name, **meta_fields(rec)}


def meta_fields(rec: VmRecord) -> dict[str, Any]:
    m = rec.meta
    return {
        "node_limit": [str(n) for n in m.get("node_limit") or []],
        "node_selector": str(m.get("node_selector") or "none"),
        "node_autostart": bool(m.get("node_autostart")),
        "migration_method": str(m.get("migration_method") or "none"),
        "migration_max_downtime": _int(m.get("migration_max_downtime")),
    }
