"""Client network endpoints: networks, their DHCP leases and reservations, their ACLs.

As PVC's clients send them, every parameter may come in the query string or the form
body; PVC's client sends `mtu=` (empty) when no MTU is given, so optional values are text
here and checked in `pvc.ops.network`. Single objects are answered as a list of one and
empty listings as 404, as PVC does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from pvc.api import schemas
from pvc.api.deps import ConfigDep, StoreDep
from pvc.api.errors import refusals_as_400
from pvc.common.errors import InvalidArgument, NotFound
from pvc.ops.network import acls, networks, records, reservations, spec

router = APIRouter(tags=["network"])

_READ = {**schemas.AUTH_ERRORS, **schemas.BAD_REQUEST, **schemas.NOT_FOUND}
Json = dict[str, Any]
Vni = Annotated[str, Path(description="The network's VNI")]
Limit = Annotated[str | None, Query(description="A regex on the VNI or description; matches "
                                                "anywhere unless anchored with ^ or $")]
Description = Annotated[str | None, Query(description="A unique name for the network")]
NetType = Annotated[str | None, Query(description="managed or bridged")]
Mtu = Annotated[str | None, Query(description="The MTU; empty or absent: the largest its "
                                              "type allows")]
Domain = Annotated[str | None, Query(description="The DNS domain (managed networks; default "
                                                 "<description>.local)")]
NameServers = Annotated[list[str] | None, Query(description="A DNS server for the guests "
                                                            "(repeat, or comma-separate)")]
Ip4Network = Annotated[str | None, Query(description="The IPv4 network, e.g. 10.100.0.0/24")]
Ip4Gateway = Annotated[str | None, Query(description="The gateway's IPv4 address (default: "
                                                     "the first host)")]
Dhcp4 = Annotated[str | None, Query(description="Serve DHCPv4: True or False")]
Dhcp4Start = Annotated[str | None, Query(description="The first address DHCP hands out")]
Dhcp4End = Annotated[str | None, Query(description="The last address DHCP hands out")]
Ip6Network = Annotated[str | None, Query(description="The IPv6 network, e.g. fd00:1::/64")]
Ip6Gateway = Annotated[str | None, Query(description="The gateway's IPv6 address (default: "
                                                     "<prefix>::1)")]


def nonempty(items: list[Json], what: str) -> list[Json]:
    if not items:
        raise NotFound(f"{what} not found.")
    return items


class Settings:
    """The settings of a network that a create and a change share (query or form)."""

    def __init__(
        self, mtu: Mtu = None, domain: Domain = None, name_servers: NameServers = None,
        ip4_network: Ip4Network = None, ip4_gateway: Ip4Gateway = None, dhcp4: Dhcp4 = None,
        dhcp4_start: Dhcp4Start = None, dhcp4_end: Dhcp4End = None,
        ip6_network: Ip6Network = None, ip6_gateway: Ip6Gateway = None,
    ) -> None:
        self.values: dict[str, Any] = {
            "mtu": mtu, "domain": domain, "name_servers": name_servers,
            "ip4_network": ip4_network, "ip4_gateway": ip4_gateway, "dhcp4": dhcp4,
            "dhcp4_start": dhcp4_start, "dhcp4_end": dhcp4_end, "ip6_network": ip6_network,
            "ip6_gateway": ip6_gateway}


SettingsDep = Annotated[Settings, Depends()]


def _required(value: str | None, name: str) -> str:
    if value in (None, ""):
        raise InvalidArgument(f"The parameter {name} is required")
    return str(value)


@router.get("/network", responses=_READ)
def network_list(store: StoreDep, config: ConfigDep, limit: Limit = None) -> list[Json]:
    """The client networks, by VNI."""
    return nonempty(records.list_networks(store, spec.limits_of(config), limit), "Network")


@router.post("/network", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def network_add(
    store: StoreDep, config: ConfigDep, settings: SettingsDep,
    vni: Annotated[str | None, Query(description="The VNI (1-16777215; the VLAN id of a "
                                                 "bridged network)")] = None,
    description: Description = None, nettype: NetType = None,
) -> Json:
    """Create a client network."""
    return {"message": networks.add(
        store, spec.limits_of(config), _required(vni, "vni"),
        _required(description, "description"), _required(nettype, "nettype"),
        **settings.values)}


@router.get("/network/{vni}", responses=_READ)
def network_info(store: StoreDep, config: ConfigDep, vni: Vni) -> list[Json]:
    return [records.view(records.read(store, spec.vni(vni)), spec.limits_of(config))]


@router.post("/network/{vni}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def network_add_at(
    store: StoreDep, config: ConfigDep, vni: Vni, settings: SettingsDep,
    description: Description = None, nettype: NetType = None,
) -> Json:
    """Create a client network (VNI in the path)."""
    return {"message": networks.add(
        store, spec.limits_of(config), vni, _required(description, "description"),
        _required(nettype, "nettype"), **settings.values)}


@router.put("/network/{vni}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def network_modify(
    store: StoreDep, config: ConfigDep, vni: Vni, settings: SettingsDep,
    description: Description = None,
) -> Json:
    """Change a network; what is left out keeps its value, an empty value clears it."""
    return {"message": networks.modify(store, spec.limits_of(config), vni, description,
                                       **settings.values)}


@router.delete("/network/{vni}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def network_remove(
    store: StoreDep, vni: Vni,
    force: Annotated[bool, Query(description="Remove it even though VMs have NICs on it")]
    = False,
) -> Json:
    """Remove a network (refused while VMs use it, unless forced)."""
    return {"message": networks.remove(store, vni, force)}


# -- leases and reservations ----------------------------------------------------

@router.get("/network/{vni}/lease", responses=_READ)
def lease_list(
    store: StoreDep, vni: Vni, limit: Limit = None,
    static: Annotated[bool, Query(description="Only the static reservations")] = False,
) -> list[Json]:
    """The DHCP leases and static reservations of a network."""
    return nonempty(records.list_leases(store, spec.vni(vni), limit, static), "Lease")


@router.post("/network/{vni}/lease", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def reservation_add(
    store: StoreDep, vni: Vni,
    macaddress: Annotated[str | None, Query(description="The guest NIC's MAC address")] = None,
    ipaddress: Annotated[str | None, Query(description="The address it always gets")] = None,
    hostname: Annotated[str | None, Query(description="Its name in the network's "
                                                      "domain")] = None,
) -> Json:
    """Reserve an address for a MAC (a static DHCP lease)."""
    return {"message": reservations.add(store, vni, macaddress, ipaddress, hostname)}


@router.get("/network/{vni}/lease/{mac}", responses=_READ)
def lease_info(store: StoreDep, vni: Vni, mac: Annotated[str, Path()]) -> list[Json]:
    return [reservations.get(store, vni, mac)]


@router.post("/network/{vni}/lease/{mac}", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def reservation_add_at(
    store: StoreDep, vni: Vni, mac: Annotated[str, Path()],
    macaddress: Annotated[str | None, Query(description="Ignored: the MAC is in the "
                                                        "path")] = None,
    ipaddress: Annotated[str | None, Query(description="The address it always gets")] = None,
    hostname: Annotated[str | None, Query(description="Its name in the network's "
                                                      "domain")] = None,
) -> Json:
    """Reserve an address for the MAC in the path."""
    return {"message": reservations.add(store, vni, mac, ipaddress, hostname)}


@router.delete("/network/{vni}/lease/{mac}", response_model=schemas.Message, responses=_READ)
def reservation_remove(store: StoreDep, vni: Vni, mac: Annotated[str, Path()]) -> Json:
    """Remove a static reservation."""
    return {"message": reservations.remove(store, vni, mac)}


# -- ACLs ------------------------------------------------------------------------

AclDirection = Annotated[str | None, Query(description="in (into the network) or out")]
AclOrder = Annotated[str | None, Query(description="Its position, from 1 (default: last)")]
AclRule = Annotated[str | None, Query(description="An nftables rule fragment, e.g. "
                                                  "'tcp dport 22 drop'")]


@router.get("/network/{vni}/acl", responses=_READ)
def acl_list(store: StoreDep, vni: Vni, limit: Limit = None,
             direction: AclDirection = None) -> list[Json]:
    return nonempty(acls.list_acls(store, vni, limit, direction), "ACL")


@router.post("/network/{vni}/acl", response_model=schemas.Message, responses=_READ)
@refusals_as_400
def acl_add(
    store: StoreDep, vni: Vni,
    description: Annotated[str | None, Query(description="A unique name for the rule")] = None,
    direction: AclDirection = None, order: AclOrder = None, rule: AclRule = None,
) -> Json:
    """Add a firewall rule (checked against the ACL grammar)."""
    return {"message": acls.add(store, vni, _required(description, "description"),
                                _required(rule, "rule"), direction, order)}


@router.get("/network/{vni}/acl/{description}", responses=_READ)
def acl_info(store: StoreDep, vni: Vni, description: Annotated[str, Path()]) -> list[Json]:
    return [acls.get(store, vni, description)]


@router.post("/network/{vni}/acl/{description}", response_model=schemas.Message,
             responses=_READ)
@refusals_as_400
def acl_add_at(store: StoreDep, vni: Vni, description: Annotated[str, Path()],
               direction: AclDirection = None, order: AclOrder = None,
               rule: AclRule = None) -> Json:
    """Add a firewall rule named in the path."""
    return {"message": acls.add(store, vni, description, _required(rule, "rule"), direction,
                                order)}


@router.delete("/network/{vni}/acl/{description}", response_model=schemas.Message,
               responses=_READ)
def acl_remove(store: StoreDep, vni: Vni, description: Annotated[str, Path()]) -> Json:
    return {"message": acls.remove(store, vni, description)}
