"""Firewall ACLs of a network: rules in two directions ("in": traffic into the network,
"out": traffic leaving it), each named by a description unique in the network and ordered
by position. A rule is parsed against `pvc.common.acl`'s grammar before it is stored, and
the stored text is the parser's canonical form, so only checked rules reach nftables."""

from __future__ import annotations

from typing import Any

from pvc.common import acl, names
from pvc.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from pvc.ops.network import records, spec
from pvc.ops.node.records import limit_matcher
from pvc.state.store import Store

DIRECTIONS = ("in", "out")
MAX_ACLS = 4096
_TRIES = 5
Acls = dict[str, list[dict[str, str]]]


def _direction(value: Any) -> str:
    text = "in" if value in (None, "") else str(value)
    if text not in DIRECTIONS:
        raise InvalidArgument(f"Invalid direction {value!r}: use in or out")
    return text


def _views(acls: Acls) -> list[dict[str, Any]]:
    return [{"description": entry["description"], "direction": direction, "order": i + 1,
             "rule": entry["rule"]}
            for direction in DIRECTIONS for i, entry in enumerate(acls.get(direction, []))]


def read(store: Store, vni: int) -> tuple[Acls, int]:
    records.read(store, vni)
    value, version = store.read_versioned("network.acls", vni=vni)
    return {d: list(value.get(d, [])) for d in DIRECTIONS}, version


def list_acls(store: Store, vni: Any, limit: str | None = None,
              direction: str | None = None) -> list[dict[str, Any]]:
    number = spec.vni(vni)
    wanted = None if direction in (None, "") else _direction(direction)
    pattern = limit_matcher(limit)
    acls, _ = read(store, number)
    return [v for v in _views(acls)
            if (wanted is None or v["direction"] == wanted)
            and (pattern is None or pattern.search(v["description"]))]


def get(store: Store, vni: Any, description: str) -> dict[str, Any]:
    name = names.object_name(description, "ACL description")
    found = [v for v in list_acls(store, vni) if v["description"] == name]
    if not found:
        raise NotFound(f'ACL "{name}" not found on network {vni}')
    return found[0]


def _write(store: Store, number: int, change: Any) -> None:
    """Apply `change(acls)` to the network's rules, again if someone wrote in between."""
    for _ in range(_TRIES):
        acls, version = read(store, number)
        change(acls)
        try:
            store.write("network.acls", acls, version=version, vni=number)
            return
        except Conflict:
            continue
    raise Conflict(f"The ACLs of network {number} kept changing; try again")


def add(store: Store, vni: Any, description: Any, rule: Any, direction: Any = None,
        order: Any = None) -> str:
    number = spec.vni(vni)
    name = names.object_name(str(description or ""), "ACL description")
    where = _direction(direction)
    parsed = acl.parse_rule(str(rule or ""))
    position = _order(order)

    def insert(acls: Acls) -> None:
        if any(e["description"] == name for d in DIRECTIONS for e in acls[d]):
            raise AlreadyExists(f'ACL "{name}" already exists on network {number}')
        if sum(len(acls[d]) for d in DIRECTIONS) >= MAX_ACLS:
            raise InvalidArgument(f"Network {number} already has {MAX_ACLS} ACLs")
        chain = acls[where]
        at = len(chain) if position is None else min(position - 1, len(chain))
        chain.insert(at, {"description": name, "rule": parsed.text})

    _write(store, number, insert)
    return f'ACL "{name}" added to network {number} ({where}).'


def _order(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidArgument(f"Invalid order {value!r}: use a whole number from 1") from None
    if number < 1:
        raise InvalidArgument(f"Invalid order {value!r}: use a whole number from 1")
    return number


def remove(store: Store, vni: Any, description: Any) -> str:
    number = spec.vni(vni)
    name = names.object_name(str(description or ""), "ACL description")

    def drop(acls: Acls) -> None:
        for d in DIRECTIONS:
            kept = [e for e in acls[d] if e["description"] != name]
            if len(kept) != len(acls[d]):
                acls[d] = kept
                return
        raise NotFound(f'ACL "{name}" not found on network {number}')

    _write(store, number, drop)
    return f'ACL "{name}" removed from network {number}.'
