"""What a client network is: its record, checked as a whole.

`NetworkSpec` is the intent of one network as it is stored in ZooKeeper (`network` key).
`build()` makes one from the parameters of a create or a modify, refusing bad input with a
message that names the parameter; nothing here touches the cluster.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import Any

from pvc.common import names
from pvc.common.config import Config
from pvc.common.errors import InvalidArgument

TYPES = ("managed", "bridged")
MAX_VNI = 16777215
MAX_VLAN = 4094
VXLAN_OVERHEAD = 50
MIN_MTU = 576
MIN_MTU_IP6 = 1280
MAX_NAME_SERVERS = 8
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Limits:
    """What the cluster's own networks allow: a managed network's MTU fits in the cluster
    network's MTU minus the VXLAN overhead, a bridged one in the bridge device's MTU."""

    cluster_mtu: int = 1500
    bridge_mtu: int = 1500

    def max_mtu(self, nettype: str) -> int:
        return self.cluster_mtu - VXLAN_OVERHEAD if nettype == "managed" else self.bridge_mtu


@dataclass(frozen=True)
class Ip4:
    network: ipaddress.IPv4Network | None = None
    gateway: ipaddress.IPv4Address | None = None
    dhcp: bool = False
    dhcp_start: ipaddress.IPv4Address | None = None
    dhcp_end: ipaddress.IPv4Address | None = None


@dataclass(frozen=True)
class Ip6:
    network: ipaddress.IPv6Network | None = None
    gateway: ipaddress.IPv6Address | None = None

    @property
    def dhcp(self) -> bool:
        """IPv6 on a managed network always comes with router advertisements and DHCPv6."""
        return self.network is not None


@dataclass(frozen=True)
class NetworkSpec:
    vni: int
    description: str
    type: str
    mtu: int | None = None  # None: the largest its type allows
    domain: str | None = None
    name_servers: tuple[str, ...] = ()
    ip4: Ip4 = field(default_factory=Ip4)
    ip6: Ip6 = field(default_factory=Ip6)

    @property
    def managed(self) -> bool:
        return self.type == "managed"

    def effective_mtu(self, limits: Limits) -> int:
        return self.mtu if self.mtu is not None else limits.max_mtu(self.type)

    def to_record(self) -> dict[str, Any]:
        def text(value: object | None) -> str | None:
            return None if value is None else str(value)

        return {
            "description": self.description,
            "type": self.type,
            "mtu": self.mtu,
            "domain": self.domain,
            "name_servers": list(self.name_servers),
            "ip4": {"network": text(self.ip4.network), "gateway": text(self.ip4.gateway),
                    "dhcp": self.ip4.dhcp, "dhcp_start": text(self.ip4.dhcp_start),
                    "dhcp_end": text(self.ip4.dhcp_end)},
            "ip6": {"network": text(self.ip6.network), "gateway": text(self.ip6.gateway),
                    "dhcp": self.ip6.dhcp},
        }

    @classmethod
    def from_record(cls, vni: int | str, record: dict[str, Any]) -> NetworkSpec:
        """A stored record (written by `to_record`, so trusted to be well formed)."""
        ip4: dict[str, Any] = record.get("ip4") or {}
        ip6: dict[str, Any] = record.get("ip6") or {}

        def opt(kind: Any, value: Any) -> Any:
            return None if value in (None, "") else kind(value)

        return cls(
            vni=int(vni),
            description=str(record.get("description", "")),
            type=str(record.get("type", "managed")),
            mtu=opt(int, record.get("mtu")),
            domain=record.get("domain") or None,
            name_servers=tuple(record.get("name_servers") or ()),
            ip4=Ip4(opt(ipaddress.IPv4Network, ip4.get("network")),
                    opt(ipaddress.IPv4Address, ip4.get("gateway")),
                    bool(ip4.get("dhcp")),
                    opt(ipaddress.IPv4Address, ip4.get("dhcp_start")),
                    opt(ipaddress.IPv4Address, ip4.get("dhcp_end"))),
            ip6=Ip6(opt(ipaddress.IPv6Network, ip6.get("network")),
                    opt(ipaddress.IPv6Address, ip6.get("gateway"))),
        )


# -- single values ---------------------------------------------------------------

def vni(value: Any) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,8}", text) or not 1 <= int(text) <= MAX_VNI:
        raise InvalidArgument(f"Invalid VNI {value!r}: use a number from 1 to {MAX_VNI}")
    return int(text)


def description(value: Any) -> str:
    return names.object_name(str(value), "network description")


def nettype(value: Any) -> str:
    if value not in TYPES:
        raise InvalidArgument(f"Invalid network type {value!r}: use managed or bridged")
    return str(value)


def domain_name(value: Any) -> str:
    text = str(value).strip().lower().rstrip(".")
    labels = text.split(".")
    if not text or len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidArgument(
            f"Invalid domain {value!r}: use DNS labels of letters, digits and '-' "
            "separated by dots (e.g. net1.local)")
    return text


def mac(value: Any) -> str:
    text = str(value).strip().lower().replace("-", ":")
    if not re.fullmatch(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}", text):
        raise InvalidArgument(f"Invalid MAC address {value!r}: use six hex pairs separated by "
                              "':' (e.g. 52:54:00:12:34:56)")
    if int(text[:2], 16) & 1:
        raise InvalidArgument(f"Invalid MAC address {value!r}: it is a multicast address")
    return text


def hostname(value: Any) -> str:
    text = str(value).strip().lower()
    if not _LABEL.fullmatch(text):
        raise InvalidArgument(f"Invalid hostname {value!r}: use one DNS label of letters, "
                              "digits and '-' (at most 63)")
    return text


def _ip4_network(value: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid IPv4 network {value!r}: {exc} "
                              "(use an address/prefix such as 10.100.0.0/24)") from None
    if net.prefixlen > 30:
        raise InvalidArgument(f"IPv4 network {value} is too small: use a prefix of /30 or larger")
    return net


def _ip6_network(value: str) -> ipaddress.IPv6Network:
    try:
        net = ipaddress.IPv6Network(value)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid IPv6 network {value!r}: {exc} "
                              "(use a prefix such as fd00:100::/64)") from None
    if net.prefixlen > 126:
        raise InvalidArgument(f"IPv6 network {value} is too small: use /126 or larger")
    return net


def _ip4_in(what: str, value: str, net: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    addr = names.ipv4_address(str(value).strip())
    if addr not in net or addr in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"The {what} {addr} is not a host address of {net}")
    return addr


def name_server_list(values: Any) -> tuple[str, ...]:
    """Addresses given as repeated parameters or comma-separated (or both)."""
    items = [values] if isinstance(values, str) else list(values or [])
    found: list[str] = []
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            try:
                found.append(str(ipaddress.ip_address(part.strip())))
            except ValueError:
                raise InvalidArgument(f"Invalid name server {part.strip()!r}: use an IPv4 or "
                                      "IPv6 address") from None
    if len(found) > MAX_NAME_SERVERS:
        raise InvalidArgument(f"At most {MAX_NAME_SERVERS} name servers")
    return tuple(dict.fromkeys(found))


# -- a whole network ---------------------------------------------------------------

_UNSET: Any = object()


def build(base: NetworkSpec, limits: Limits, *, mtu: Any = _UNSET, domain: Any = _UNSET,
          name_servers: Any = _UNSET, ip4_network: Any = _UNSET, ip4_gateway: Any = _UNSET,
          dhcp4: Any = _UNSET, dhcp4_start: Any = _UNSET, dhcp4_end: Any = _UNSET,
          ip6_network: Any = _UNSET, ip6_gateway: Any = _UNSET) -> NetworkSpec:
    """`base` with the given changes, checked as a whole. A parameter left out keeps its
    value; an empty one ("") clears it. A network that gets a new prefix and keeps its
    gateway, range or flags must have them fit the new prefix."""

    def given(value: Any) -> bool:
        return value is not _UNSET and value is not None

    def cleared(value: Any) -> bool:
        return given(value) and str(value).strip() == ""

    spec = base
    if given(mtu):
        spec = replace(spec, mtu=None if cleared(mtu) else _mtu(mtu))
    if given(domain):
        spec = replace(spec, domain=None if cleared(domain) else domain_name(domain))
    if given(name_servers):
        spec = replace(spec, name_servers=name_server_list(name_servers))

    ip4 = spec.ip4
    if given(ip4_network):
        ip4 = replace(ip4, network=None if cleared(ip4_network) else _ip4_network(ip4_network))
    if given(ip4_gateway):
        ip4 = replace(ip4, gateway=None if cleared(ip4_gateway) else _gateway4(ip4_gateway, ip4))
    if given(dhcp4):
        ip4 = replace(ip4, dhcp=_flag("dhcp4", dhcp4))
    if given(dhcp4_start):
        ip4 = replace(ip4, dhcp_start=None if cleared(dhcp4_start)
                      else names.ipv4_address(str(dhcp4_start).strip()))
    if given(dhcp4_end):
        ip4 = replace(ip4, dhcp_end=None if cleared(dhcp4_end)
                      else names.ipv4_address(str(dhcp4_end).strip()))
    if ip4.network is None:
        ip4 = replace(ip4, gateway=None)
    elif ip4.gateway is None or (not given(ip4_gateway) and ip4.gateway not in ip4.network):
        # none, or the old one outside a new prefix: the first host
        ip4 = replace(ip4, gateway=ip4.network.network_address + 1)

    ip6 = spec.ip6
    if given(ip6_network):
        ip6 = replace(ip6, network=None if cleared(ip6_network) else _ip6_network(ip6_network))
    if given(ip6_gateway) and not cleared(ip6_gateway):
        ip6 = replace(ip6, gateway=_ip6_address("IPv6 gateway", ip6_gateway))
    elif ip6.network is not None and (ip6.gateway is None or ip6.gateway not in ip6.network
                                      or cleared(ip6_gateway)):
        ip6 = replace(ip6, gateway=ip6.network.network_address + 1)
    if ip6.network is None:
        ip6 = replace(ip6, gateway=None)

    spec = replace(spec, ip4=ip4, ip6=ip6)
    if spec.managed and spec.domain is None:
        spec = replace(spec, domain=_default_domain(spec.description))
    return check(spec, limits)


def _default_domain(desc: str) -> str:
    try:
        return domain_name(f"{desc}.local")
    except InvalidArgument:
        raise InvalidArgument(f"The description {desc!r} does not make a domain name "
                              f"({desc}.local): give the network a domain") from None


def _mtu(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidArgument(f"Invalid MTU {value!r}: use a number of bytes") from None


def _flag(what: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off", ""):
        return False
    raise InvalidArgument(f"Invalid {what} {value!r}: use True or False")


def _gateway4(value: Any, ip4: Ip4) -> ipaddress.IPv4Address:
    if ip4.network is None:
        raise InvalidArgument("An IPv4 gateway needs an IPv4 network (ip4_network)")
    return _ip4_in("IPv4 gateway", value, ip4.network)


def _ip6_address(what: str, value: Any) -> ipaddress.IPv6Address:
    try:
        return ipaddress.IPv6Address(str(value).strip())
    except ValueError:
        raise InvalidArgument(f"Invalid {what} {value!r}: use an IPv6 address") from None


def check(spec: NetworkSpec, limits: Limits) -> NetworkSpec:
    """Refuse a network whose parts do not fit together."""
    top = limits.max_mtu(spec.type)
    if spec.mtu is not None and not MIN_MTU <= spec.mtu <= top:
        where = ("the cluster network's MTU minus the VXLAN overhead" if spec.managed
                 else "the bridge device's MTU")
        raise InvalidArgument(f"Invalid MTU {spec.mtu} for a {spec.type} network: use "
                              f"{MIN_MTU}-{top} ({where})")
    ip4, ip6 = spec.ip4, spec.ip6
    if not spec.managed:
        if spec.vni > MAX_VLAN:
            raise InvalidArgument(f"Invalid VNI {spec.vni} for a bridged network: it is the "
                                  f"VLAN id, 1-{MAX_VLAN}")
        used = [n for n, v in (("ip4_network", ip4.network), ("dhcp4", ip4.dhcp or None),
                               ("ip6_network", ip6.network), ("domain", spec.domain),
                               ("name_servers", spec.name_servers or None)) if v is not None]
        if used:
            raise InvalidArgument(f"A bridged network has no addresses or services of PVC's: "
                                  f"{', '.join(used)} is for managed networks only")
        return spec
    if ip4.network is not None and ip4.gateway is not None:
        _ip4_in("IPv4 gateway", str(ip4.gateway), ip4.network)
    if ip4.dhcp:
        if ip4.network is None:
            raise InvalidArgument("DHCPv4 needs an IPv4 network (ip4_network)")
        if ip4.dhcp_start is None or ip4.dhcp_end is None:
            raise InvalidArgument("DHCPv4 needs a range: give dhcp4_start and dhcp4_end")
        start = _ip4_in("DHCP start", str(ip4.dhcp_start), ip4.network)
        end = _ip4_in("DHCP end", str(ip4.dhcp_end), ip4.network)
        if start > end:
            raise InvalidArgument(f"The DHCP range is reversed: start {start} is after end {end}")
        if ip4.gateway is not None and start <= ip4.gateway <= end:
            raise InvalidArgument(f"The DHCP range {start}-{end} includes the gateway "
                                  f"{ip4.gateway}")
    if ip6.network is not None:
        if ip6.gateway is None or ip6.gateway not in ip6.network or ip6.gateway in (
                ip6.network.network_address,):
            raise InvalidArgument(f"The IPv6 gateway {ip6.gateway} is not a host address of "
                                  f"{ip6.network}")
        if spec.mtu is not None and spec.mtu < MIN_MTU_IP6:
            raise InvalidArgument(f"IPv6 needs an MTU of at least {MIN_MTU_IP6}")
    return spec


def new(vni_: Any, description_: Any, nettype_: Any, limits: Limits, **params: Any
        ) -> NetworkSpec:
    """A network to create, from the API's parameters."""
    base = NetworkSpec(vni=vni(vni_), description=description(description_),
                       type=nettype(nettype_))
    return build(base, limits, **params)


def reservation_address(spec: NetworkSpec, value: Any) -> ipaddress.IPv4Address:
    """An address a static reservation may give: a host of the network, not its gateway."""
    if not spec.managed or spec.ip4.network is None:
        raise InvalidArgument(f"Network {spec.vni} has no IPv4 network to reserve addresses in")
    addr = _ip4_in("reserved address", value, spec.ip4.network)
    if addr == spec.ip4.gateway:
        raise InvalidArgument(f"{addr} is the gateway of network {spec.vni}")
    return addr


def limits_of(config: Config) -> Limits:
    return Limits(cluster_mtu=config.networks["cluster"].mtu, bridge_mtu=config.bridge_mtu)
