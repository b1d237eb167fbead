"""Tables of the objects inside a network: DHCP leases and reservations
(`GET /network/{vni}/lease`) and firewall ACLs (`GET /network/{vni}/acl`). Shared by the
`dhcp list` and `acl list` commands and by `network info --long`."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from pvc.cli.render import NOTE, Cell, Column, cell, table

LEASE_COLUMNS = (Column("Hostname"), Column("IP Address"), Column("MAC Address"),
                 Column("Timestamp"))
ACL_COLUMNS = (Column("Direction"), Column("Order", right=True), Column("Description"),
               Column("Rule"))
STATIC = "static"


def dicts(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        return [data]
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _integer(value: Any) -> int | None:
    """A whole number, from an int, a float or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def expiry_text(value: Any) -> Cell:
    """A lease's expiry (epoch seconds) as a local date; 0 marks a static reservation."""
    seconds = _integer(value)
    if seconds is None:
        return cell(None if value in (None, "") else value)
    if seconds == 0:
        return cell(STATIC, NOTE)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _lease_key(lease: dict[str, Any]) -> tuple[str, str]:
    return (str(lease.get("hostname", "")), str(lease.get("ip4_address", "")))


def lease_table(data: Any, empty: str = "No DHCP leases or reservations found.") -> list[Text]:
    leases = sorted(dicts(data), key=_lease_key)
    if not leases:
        return [Text(empty)]
    rows: list[list[Cell]] = [
        [cell(lease.get("hostname"), "bold"), cell(lease.get("ip4_address")),
         cell(lease.get("mac_address")), expiry_text(lease.get("timestamp"))]
        for lease in leases
    ]
    return table(LEASE_COLUMNS, rows)


def lease_raw(data: Any) -> str:
    """`MAC|IP|HOSTNAME` lines, as PVC's client prints them."""
    leases = sorted(dicts(data), key=_lease_key)
    return "\n".join(
        f"{lease.get('mac_address')}|{lease.get('ip4_address')}|{lease.get('hostname')}"
        for lease in leases)


def _order(acl: dict[str, Any]) -> int:
    value = _integer(acl.get("order"))
    return value if value is not None else 1 << 30


def _acl_key(acl: dict[str, Any]) -> tuple[str, int, str]:
    return (str(acl.get("direction", "")), _order(acl), str(acl.get("description", "")))


def acl_table(data: Any, empty: str = "No ACLs found.") -> list[Text]:
    acls = sorted(dicts(data), key=_acl_key)
    if not acls:
        return [Text(empty)]
    rows: list[list[Cell]] = [
        [cell(acl.get("direction")), cell(acl.get("order")),
         cell(acl.get("description"), "bold"), cell(acl.get("rule"))]
        for acl in acls
    ]
    return table(ACL_COLUMNS, rows)


def acl_raw(data: Any) -> str:
    """`DIRECTION|ORDER|RULE` lines, as PVC's client prints them."""
    acls = sorted(dicts(data), key=_acl_key)
    return "\n".join(f"{a.get('direction')}|{a.get('order')}|{a.get('rule')}" for a in acls)
