"""Pretty formats of `pvc network list` and `pvc network info` (the `GET /network`
objects). The API keeps unset settings and flags as the strings "None", "True" and
"False" (as PVC's server does); real booleans and nulls are shown the same way."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from pvc.cli.network.tables import acl_table, dicts, lease_table
from pvc.cli.render import BLANK, GOOD, NOTE, Cell, Column, cell, kv_block, table

UNSET = ("", "None", None)
LIST_GROUPS = (("Networks", 5), ("IPv4", 3), ("IPv6", 3))
LIST_COLUMNS = (
    Column("VNI", right=True),
    Column("Description"),
    Column("Type"),
    Column("MTU", right=True),
    Column("Domain"),
    Column("Network"),
    Column("Gateway"),
    Column("DHCP"),
    Column("Network"),
    Column("Gateway"),
    Column("DHCP"),
)


def _sub(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def is_set(value: Any) -> bool:
    return value not in UNSET and value is not False


def setting(value: Any) -> Cell:
    """A setting that may be unset ("None")."""
    return cell(value) if is_set(value) else cell("None", NOTE)


def flag(value: Any) -> Cell:
    """A "True"/"False" flag: green when on, blue when off."""
    text = str(value)
    if text == "True":
        return cell(text, GOOD)
    if text == "False" or value in UNSET:
        return cell("False", NOTE)
    return cell(value)


def vni_key(network: dict[str, Any]) -> tuple[int, str]:
    vni = network.get("vni")
    try:
        return (int(str(vni)), "")
    except ValueError:
        return (1 << 30, str(vni))


def list_row(network: dict[str, Any]) -> list[Cell]:
    ip4, ip6 = _sub(network, "ip4"), _sub(network, "ip6")
    return [
        cell(network.get("vni"), "bold"),
        cell(network.get("description")),
        cell(network.get("type")),
        setting(network.get("mtu")),
        setting(network.get("domain")),
        setting(ip4.get("network")),
        setting(ip4.get("gateway")),
        flag(ip4.get("dhcp_flag")),
        setting(ip6.get("network")),
        setting(ip6.get("gateway")),
        flag(ip6.get("dhcp_flag")),
    ]


def list_pretty(data: Any) -> list[Text]:
    networks = sorted(dicts(data), key=vni_key)
    if not networks:
        return [Text("No networks found.")]
    return table(LIST_COLUMNS, [list_row(n) for n in networks], LIST_GROUPS)


def list_raw(data: Any) -> str:
    return "\n".join(str(n.get("vni")) for n in sorted(dicts(data), key=vni_key))


def _servers(value: Any) -> Cell:
    if isinstance(value, list):
        shown = [str(s) for s in value if is_set(s)]
        return ", ".join(shown) if shown else cell("None", NOTE)
    return setting(value)


def _addressing(network: dict[str, Any]) -> list[tuple[str, Cell]]:
    """The domain, DNS servers, and IPv4 and IPv6 settings of a managed network."""
    ip4, ip6 = _sub(network, "ip4"), _sub(network, "ip6")
    pairs: list[tuple[str, Cell]] = [
        ("Domain", setting(network.get("domain"))),
        ("DNS Servers", _servers(network.get("name_servers"))),
        BLANK,
        ("IPv4 Network", setting(ip4.get("network"))),
    ]
    if is_set(ip4.get("network")):
        pairs += [("IPv4 Gateway", setting(ip4.get("gateway"))),
                  ("DHCPv4", flag(ip4.get("dhcp_flag")))]
        if str(ip4.get("dhcp_flag")) == "True":
            pairs.append(("DHCPv4 Range", f"{ip4.get('dhcp_start')} - {ip4.get('dhcp_end')}"))
    pairs += [BLANK, ("IPv6 Network", setting(ip6.get("network")))]
    if is_set(ip6.get("network")):
        pairs += [("IPv6 Gateway", setting(ip6.get("gateway"))),
                  ("DHCPv6", flag(ip6.get("dhcp_flag")))]
    return pairs


def is_managed(network: Any) -> bool:
    return isinstance(network, dict) and network.get("type") != "bridged"


def info_lines(network: Any, leases: Any = None, acls: Any = None) -> list[Text]:
    """The settings of one network; with `leases`/`acls` (network info --long) their
    tables follow."""
    network = network if isinstance(network, dict) else {}
    pairs: list[tuple[str, Cell]] = [
        ("VNI", cell(network.get("vni"), "bold")),
        ("Description", cell(network.get("description"))),
        ("Type", cell(network.get("type"))),
        ("MTU", setting(network.get("mtu"))),
    ]
    if is_managed(network):
        pairs += _addressing(network)
    lines = kv_block(pairs)
    if leases is not None:
        lines += [Text(""), Text("DHCP leases and reservations", style="bold"),
                  *lease_table(leases, "None.")]
    if acls is not None:
        lines += [Text(""), Text("Firewall ACLs", style="bold"), *acl_table(acls, "None.")]
    return lines
