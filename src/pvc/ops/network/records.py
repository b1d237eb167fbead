"""Reading networks from ZooKeeper into the shapes of the PVC v1 API.

PVC's own client compares the DHCP flags and unset addresses with the strings "True",
"False" and "None", as the real server stores them, so the views say so too.
"""

from __future__ import annotations

import re
from typing import Any

from pvc.common.errors import NotFound
from pvc.ops.network.spec import Limits, NetworkSpec
from pvc.ops.node.records import limit_matcher
from pvc.ops.vm.records import all_uuids, read_vms
from pvc.state.store import Store

Json = dict[str, Any]


def vnis(store: Store) -> list[int]:
    return sorted(int(v) for v in store.children_of(store.path("root.networks")) or [])


def read(store: Store, vni: int) -> NetworkSpec:
    record = store.read("network", default=None, vni=vni)
    if record is None:
        raise NotFound(f"Network {vni} not found")
    return NetworkSpec.from_record(vni, record)


def read_all(store: Store) -> list[NetworkSpec]:
    found = vnis(store)
    records = store.read_many([("network", {"vni": v}) for v in found])
    return [NetworkSpec.from_record(v, r) for v, r in zip(found, records, strict=True)
            if r is not None]


def _text(value: object | None) -> str:
    return "None" if value is None else str(value)


def view(spec: NetworkSpec, limits: Limits) -> Json:
    return {
        "vni": spec.vni,
        "description": spec.description,
        "type": spec.type,
        "mtu": spec.effective_mtu(limits),
        "domain": _text(spec.domain),
        "name_servers": list(spec.name_servers),
        "ip4": {"network": _text(spec.ip4.network), "gateway": _text(spec.ip4.gateway),
                "dhcp_flag": str(spec.ip4.dhcp), "dhcp_start": _text(spec.ip4.dhcp_start),
                "dhcp_end": _text(spec.ip4.dhcp_end)},
        "ip6": {"network": _text(spec.ip6.network), "gateway": _text(spec.ip6.gateway),
                "dhcp_flag": str(spec.ip6.dhcp)},
    }


def list_networks(store: Store, limits: Limits, limit: str | None = None) -> list[Json]:
    """Networks whose VNI or description matches `limit` (a regex), by VNI."""
    pattern = limit_matcher(limit)
    return [view(s, limits) for s in read_all(store)
            if pattern is None or pattern.search(str(s.vni)) or pattern.search(s.description)]


def users(store: Store, vni: int) -> list[str]:
    """The names of the VMs with a NIC on the network."""
    wanted = str(vni)
    return sorted(r.name for r in read_vms(store, all_uuids(store))
                  if r.spec is not None and any(n.vni == wanted for n in r.spec.nics))


def _matches(pattern: re.Pattern[str] | None, *values: str) -> bool:
    return pattern is None or any(pattern.search(v) for v in values)


def _lease_view(mac: str, record: Json, static: bool) -> Json:
    return {"hostname": str(record.get("hostname") or ""),
            "ip4_address": str(record.get("ip4") or ""),
            "mac_address": mac,
            "timestamp": 0 if static else int(record.get("expiry") or 0)}


def _entries(store: Store, vni: int, kind: str) -> list[tuple[str, Json]]:
    container = "network.leases" if kind == "lease" else "network.reservations"
    macs = sorted(store.children_of(store.path(container, vni=vni)) or [])
    records = store.read_many([(kind, {"vni": vni, "mac": m}) for m in macs])
    return [(m, r) for m, r in zip(macs, records, strict=True) if r is not None]


def reservations(store: Store, vni: int) -> list[tuple[str, Json]]:
    return _entries(store, vni, "reservation")


def leases(store: Store, vni: int) -> list[tuple[str, Json]]:
    return _entries(store, vni, "lease")


def list_leases(store: Store, vni: int, limit: str | None = None,
                static: bool = False) -> list[Json]:
    """The static reservations and (unless `static`) the leases handed out, by MAC; a
    reserved address that is also leased is shown once, as its lease."""
    read(store, vni)
    pattern = limit_matcher(limit)
    out: dict[str, Json] = {}
    for mac, record in reservations(store, vni):
        out[mac] = _lease_view(mac, record, static=True)
    if not static:
        for mac, record in leases(store, vni):
            out[mac] = _lease_view(mac, record, static=False)
    return [v for _, v in sorted(out.items())
            if _matches(pattern, v["mac_address"], v["hostname"], v["ip4_address"])]
