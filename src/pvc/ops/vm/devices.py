"""Attaching and detaching one device of a VM (`/vm/{vm}/device`): the stored XML changes
in one checked write (a NIC only on a network that exists), and a running VM gets the
device hot-plugged (or unplugged) by a task on its node."""

from __future__ import annotations

from dataclasses import dataclass

from pvc.common import vmdevice, vmxml
from pvc.common.errors import NotFound
from pvc.ops.vm.define import check_client_networks, client_networks
from pvc.ops.vm.records import VmRecord, get_vm
from pvc.state.store import Store


@dataclass(frozen=True)
class Change:
    vm: VmRecord
    device: vmdevice.Device
    live_node: str | None  # the node that must change the running domain, if it runs


def _running_node(rec: VmRecord) -> str | None:
    return rec.node if rec.state == "start" and rec.node else None


def attach(store: Store, ident: str, device_xml: str) -> Change:
    rec = get_vm(store, ident)
    device = vmdevice.parse(device_xml)
    xml, version = store.read_versioned("domain.xml", domain=rec.uuid)
    new_xml = vmdevice.add(xml, device)
    if new_xml != xml:
        networks = client_networks(store, vmxml.parse(new_xml))
        txn = store.txn().set("domain.xml", new_xml, version=version, domain=rec.uuid)
        check_client_networks(txn, networks)
        txn.commit()
    return Change(rec, device, _running_node(rec))


def detach(store: Store, ident: str, device_xml: str) -> Change:
    """Without the device in the stored XML (a client removed it there first, as PVC's
    does) only a running VM's live device is left to remove."""
    rec = get_vm(store, ident)
    wanted = vmdevice.parse(device_xml)
    node = _running_node(rec)
    # the XML and its version read together: a change made since fails the write
    xml, version = store.read_versioned("domain.xml", domain=rec.uuid)
    if not vmdevice.has(xml, wanted):
        if node is None:
            raise NotFound(f'VM "{rec.name}" has no {wanted.what()}')
        return Change(rec, wanted, node)
    device = vmdevice.current(xml, wanted)
    store.write("domain.xml", vmdevice.remove(xml, wanted), version=version, domain=rec.uuid)
    return Change(rec, device, node)
