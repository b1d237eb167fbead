"""Static DHCP reservations (a MAC always gets one address) and the leases that the
primary's DHCP server reports."""

from __future__ import annotations

import time
from typing import Any

from pvc.common.errors import AlreadyExists, InvalidArgument, NotFound
from pvc.ops.network import records, spec
from pvc.ops.network.networks import read_versioned
from pvc.state.store import Store


def add(store: Store, vni: Any, macaddress: Any, ipaddress: Any,
        hostname: Any = None) -> str:
    number = spec.vni(vni)
    if macaddress in (None, "") or ipaddress in (None, ""):
        raise InvalidArgument("A reservation needs a MAC address (macaddress) and an IPv4 "
                              "address (ipaddress)")
    mac = spec.mac(macaddress)
    net, version = read_versioned(store, number)
    addr = str(spec.reservation_address(net, ipaddress))
    name = "" if hostname in (None, "") else spec.hostname(hostname)
    if store.exists("reservation", vni=number, mac=mac):
        raise AlreadyExists(f"{mac} already has a reservation on network {number}")
    for other, record in records.reservations(store, number):
        if record.get("ip4") == addr:
            raise AlreadyExists(f"{addr} is already reserved for {other} on network {number}")
    now = time.time()
    for other, record in records.leases(store, number):
        if other != mac and record.get("ip4") == addr and float(record.get("expiry") or 0) > now:
            raise AlreadyExists(f"{addr} is leased to {other} on network {number}")
    (store.txn()
     .check("network", version, vni=number)
     .create("reservation", {"ip4": addr, "hostname": name}, vni=number, mac=mac)
     .commit())
    return f"Reserved {addr} for {mac} on network {number}."


def remove(store: Store, vni: Any, macaddress: Any) -> str:
    number = spec.vni(vni)
    mac = spec.mac(macaddress)
    records.read(store, number)
    if not store.exists("reservation", vni=number, mac=mac):
        raise NotFound(f"{mac} has no reservation on network {number}")
    store.txn().delete("reservation", vni=number, mac=mac).commit()
    return f"Removed the reservation of {mac} from network {number}."


def get(store: Store, vni: Any, macaddress: Any) -> dict[str, Any]:
    """One MAC's entry as the lease listing shows it (its lease, else its reservation)."""
    mac = spec.mac(macaddress)
    found = [e for e in records.list_leases(store, spec.vni(vni)) if e["mac_address"] == mac]
    if not found:
        raise NotFound(f"No lease or reservation for {mac} on network {vni}")
    return found[0]


def record_lease(store: Store, vni: int, mac: str, ip4: str, hostname: str, expiry: int,
                 client_id: str = "") -> None:
    """What the DHCP server handed out (its lease hook calls this on add and renew)."""
    record = {"ip4": ip4, "hostname": hostname, "expiry": int(expiry), "client_id": client_id}
    if store.exists("lease", vni=vni, mac=mac):
        store.write("lease", record, vni=vni, mac=mac)
    else:
        store.txn().create("lease", record, vni=vni, mac=mac).commit()


def forget_lease(store: Store, vni: int, mac: str) -> None:
    """A lease that expired or was released."""
    if store.exists("lease", vni=vni, mac=mac):
        store.txn().delete("lease", vni=vni, mac=mac).commit()
