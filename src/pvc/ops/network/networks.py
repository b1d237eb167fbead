"""Creating, changing and removing client networks. Each change is one ZooKeeper
transaction (the network, its containers and its description's index entry together);
the node daemons then make the datapath match."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pvc.common.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from pvc.ops.network import records, spec
from pvc.ops.network.spec import Limits, NetworkSpec
from pvc.state.store import Store


def _refuse_taken(store: Store, net: NetworkSpec, old: NetworkSpec | None = None) -> None:
    if old is None and store.exists("network", vni=net.vni):
        raise AlreadyExists(f"Network {net.vni} already exists")
    if (old is None or old.description != net.description) and store.exists(
            "index.network_description", description=net.description):
        owner = store.read("index.network_description", description=net.description)
        raise AlreadyExists(f'The description "{net.description}" is taken by network {owner}')


def add(store: Store, limits: Limits, vni: Any, description: Any, nettype: Any,
        **params: Any) -> str:
    net = spec.new(vni, description, nettype, limits, **params)
    _refuse_taken(store, net)
    (store.txn()
     .create("network", net.to_record(), vni=net.vni)
     .create("network.leases", "", vni=net.vni)
     .create("network.reservations", "", vni=net.vni)
     .create("network.acls", {"in": [], "out": []}, vni=net.vni)
     .create("index.network_description", str(net.vni), description=net.description)
     .commit())
    return f'Network "{net.description}" added (VNI {net.vni}, {net.type}).'


def read_versioned(store: Store, number: int) -> tuple[NetworkSpec, int]:
    try:
        record, version = store.read_versioned("network", vni=number)
    except NotFound:
        raise NotFound(f"Network {number} not found") from None
    return NetworkSpec.from_record(number, record), version


def modify(store: Store, limits: Limits, vni: Any, description: Any = None,
           **params: Any) -> str:
    number = spec.vni(vni)
    old, version = read_versioned(store, number)
    base = old if description is None else replace(old,
                                                   description=spec.description(description))
    net = spec.build(base, limits, **params)
    _refuse_taken(store, net, old)
    _refuse_stranded(store, net)
    txn = store.txn().set("network", net.to_record(), version=version, vni=number)
    if net.description != old.description:
        txn.delete("index.network_description", description=old.description)
        txn.create("index.network_description", str(number), description=net.description)
    txn.commit()
    return f"Network {number} modified."


def _refuse_stranded(store: Store, net: NetworkSpec) -> None:
    """A new prefix must still hold every static reservation."""
    for mac, record in records.reservations(store, net.vni):
        try:
            spec.reservation_address(net, record.get("ip4"))
        except InvalidArgument as exc:
            raise InvalidArgument(f"The reservation of {mac} ({record.get('ip4')}) would no "
                                  f"longer fit: {exc}") from None


def remove(store: Store, vni: Any, force: bool = False) -> str:
    number = spec.vni(vni)
    net = records.read(store, number)
    in_use = records.users(store, number)
    if in_use and not force:
        raise InvalidState(f"Network {number} is used by VM(s) {', '.join(in_use)}: remove "
                           "their NICs first, or force the removal")
    (store.txn()
     .delete_tree(store.path("network", vni=number))
     .delete("index.network_description", description=net.description)
     .commit())
    return f'Network "{net.description}" (VNI {number}) removed.'
