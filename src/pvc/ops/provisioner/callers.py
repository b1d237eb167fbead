"""Who is asking the metadata service: a guest's address -> its DHCP lease on a managed
network -> the lease's MAC -> the VM with a NIC of that MAC on that network.

Only the cluster state is read (no database). Anything that does not lead to exactly one
VM (no lease, an expired one, a MAC on no VM, or the same address or MAC twice) is
NotFound: the service answers 404 rather than risk serving one VM another's data.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from pvc.common.errors import NotFound
from pvc.ops.network.records import leases, read_all
from pvc.ops.vm.records import all_uuids, read_vms
from pvc.state.store import Store


@dataclass(frozen=True)
class Caller:
    uuid: str
    name: str
    profile: str
    mac: str
    vni: int
    address: str


def find_caller(store: Store, address: str, now: float | None = None) -> Caller:
    """The VM whose current lease holds `address` (NotFound, saying why, otherwise)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise NotFound(f"No VM has the address {address!r}") from None
    moment = time.time() if now is None else now
    held: list[tuple[int, str]] = []
    for network in read_all(store):
        subnet = network.ip4.network
        if not network.managed or subnet is None or ip not in subnet:
            continue
        held += [(network.vni, mac) for mac, lease in leases(store, network.vni)
                 if lease.get("ip4") == str(ip) and int(lease.get("expiry") or 0) > moment]
    if len(held) != 1:
        raise NotFound(f"No VM holds a lease for {ip}" if not held
                       else f"{ip} is leased {len(held)} times: answering none of them")
    vni, mac = held[0]
    owners = [vm for vm in read_vms(store, all_uuids(store))
              if vm.spec is not None and any(n.mac.lower() == mac and n.vni == str(vni)
                                             for n in vm.spec.nics)]
    if len(owners) != 1:
        raise NotFound(f"No VM has a NIC {mac} on network {vni}" if not owners
                       else f"{len(owners)} VMs have a NIC {mac} on network {vni}")
    vm = owners[0]
    return Caller(uuid=vm.uuid, name=vm.name, profile=str(vm.meta.get("profile") or ""),
                  mac=mac, vni=vni, address=str(ip))
