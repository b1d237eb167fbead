"""Defining, changing and removing VMs: each a single checked transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pvc.common import names, vm, vmxml
from pvc.common.config import Config
from pvc.common.errors import AlreadyExists, InvalidArgument, InvalidState
from pvc.ops.vm import placement
from pvc.ops.vm.records import get_vm
from pvc.state.store import Store, Txn

STOPPED_STATES = ("stop", "disable", "fail", "mirror")


def _tags(user: Iterable[str], protected: Iterable[str]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in user:
        out[names.object_name(name, "tag")] = {"name": name, "type": "user", "protected": False}
    for name in protected:
        out[names.object_name(name, "tag")] = {"name": name, "type": "user", "protected": True}
    return list(out.values())


def _check_unique(store: Store, spec: vmxml.DomainSpec) -> None:
    other = store.read("index.domain_name", default=None, name=spec.name)
    if other:
        raise AlreadyExists(f'A VM named "{spec.name}" already exists (UUID {other})')
    if store.exists("domain", domain=spec.uuid):
        existing = store.read("domain", default="?", domain=spec.uuid)
        raise AlreadyExists(f'A VM with UUID {spec.uuid} already exists (named "{existing}")')


def client_networks(store: Store, spec: vmxml.DomainSpec) -> dict[str, int]:
    """The versions of the client networks the VM's NICs are on (a NIC on a network
    that does not exist is refused); the commit checks them, so a network removed
    meanwhile fails the change instead of leaving a NIC on nothing."""
    wanted = sorted({n.vni for n in spec.nics if n.vni.isdigit()}, key=int)
    found = store.fetch_many([store.path("network", vni=v) for v in wanted])
    missing = [v for v, f in zip(wanted, found, strict=True) if f is None]
    if missing:
        raise InvalidArgument(f"The VM has a NIC on network(s) {', '.join(missing)}, which do "
                              "not exist: create them first (pvc network add)")
    return {v: f[1].version for v, f in zip(wanted, found, strict=True) if f is not None}


def check_client_networks(txn: Txn, versions: dict[str, int]) -> None:
    for vni, version in versions.items():
        txn.check("network", version, vni=vni)


def define(
    store: Store, config: Config, xml: str, node: str | None = None,
    limit: str | list[str] | None = None, selector: str | None = None,
    autostart: bool = False, migration_method: str | None = None,
    migration_max_downtime: int | None = None, user_tags: Iterable[str] = (),
    protected_tags: Iterable[str] = (), profile: str = "", state: str = "stop",
) -> str:
    spec = vmxml.parse(xml)
    records = placement.node_records(store, config)
    node_limit = placement.parse_limit(limit, [r.name for r in records])
    meta = vm.default_meta()
    meta.update(
        node_limit=node_limit,
        node_selector=vm.check_selector(selector or "none"),
        node_autostart=bool(autostart),
        migration_method=vm.check_migration_method(migration_method or "none"),
        migration_max_downtime=vm.check_max_downtime(
            vm.DEFAULT_MAX_DOWNTIME_MS if migration_max_downtime is None
            else migration_max_downtime),
        profile=profile,
    )
    tags = _tags(user_tags, protected_tags)
    placement.check_fits(spec, records)
    _check_unique(store, spec)
    networks = client_networks(store, spec)
    target = placement.pick_target(
        records, placement.selector_for(store, config, meta["node_selector"]),
        spec.memory_mib, node_limit, node, None, f'VM "{spec.name}"')
    txn = store.txn()
    check_client_networks(txn, networks)
    txn.create("index.domain_name", spec.uuid, name=spec.name)
    txn.create("domain", spec.name, domain=spec.uuid)
    txn.create("domain.xml", xml, domain=spec.uuid)
    txn.create("domain.status", vm.default_status(target, state), domain=spec.uuid)
    txn.create("domain.meta", meta, domain=spec.uuid)
    txn.create("domain.tags", tags, domain=spec.uuid)
    txn.create("domain.stats", {}, domain=spec.uuid)
    txn.create("domain.console_log", "", domain=spec.uuid)
    txn.create("domain.vnc", "", domain=spec.uuid)
    txn.commit()
    return f'Added new VM with Name "{spec.name}" and UUID "{spec.uuid}" to database.'


def modify(store: Store, config: Config, ident: str, xml: str, restart: bool = False) -> str:
    """Replace a VM's XML (same UUID; a new name renames it); restart it if asked."""
    rec = get_vm(store, ident)
    spec = vmxml.parse(xml)
    if spec.uuid != rec.uuid:
        raise InvalidArgument(f"The XML's UUID {spec.uuid} is not the VM's ({rec.uuid}); "
                              "the UUID of a VM cannot change")
    placement.check_fits(spec, placement.node_records(store, config))
    networks = client_networks(store, spec)
    xml_version = store.read_versioned("domain.xml", domain=rec.uuid).version
    status, status_version = store.read_versioned("domain.status", domain=rec.uuid)
    txn = store.txn().set("domain.xml", xml, version=xml_version, domain=rec.uuid)
    check_client_networks(txn, networks)
    if spec.name != rec.name:
        if store.read("index.domain_name", default=None, name=spec.name):
            raise AlreadyExists(f'A VM named "{spec.name}" already exists')
        txn.delete("index.domain_name", name=rec.name)
        txn.create("index.domain_name", rec.uuid, name=spec.name)
        txn.set("domain", spec.name, domain=rec.uuid)
    restarting = restart and vm.status_of(status)["state"] == "start"
    if restarting:
        new = {**vm.status_of(status), "state": "restart", "intent": {"force": False}}
        txn.set("domain.status", new, version=status_version, domain=rec.uuid)
    txn.commit()
    return (f'Modified VM "{spec.name}"' + (" and restarting it." if restarting else ".")
            + ("" if restarting or not restart else " (it is not running; no restart)"))


def remove(store: Store, ident: str, delete_disks: bool = False) -> str:
    """Delete the record (undefine; with delete_disks the VM's volumes too). The node that
    runs it stops it: a domain no record asks for is never left running."""
    rec = get_vm(store, ident)
    if delete_disks and rec.spec and rec.spec.rbd_volumes:
        raise InvalidState(f'VM "{rec.name}" has RBD disks; deleting them needs the storage '
                           "subsystem, which is not enabled (subsystem.enable_storage)")
    (store.txn()
     .delete_tree(store.path("domain", domain=rec.uuid))
     .delete("index.domain_name", name=rec.name)
     .commit())
    return f'{"Removed" if delete_disks else "Undefined"} VM "{rec.name}" from the cluster.'


def rename(store: Store, ident: str, new_name: str) -> str:
    rec = get_vm(store, ident)
    names.object_name(new_name, "new VM name")
    if rec.state not in STOPPED_STATES:
        raise InvalidState(f'VM "{rec.name}" is {rec.state}; rename needs it stopped '
                           f"({', '.join(STOPPED_STATES)})")
    if new_name == rec.name:
        raise InvalidArgument(f'VM "{rec.name}" already has that name')
    if store.read("index.domain_name", default=None, name=new_name):
        raise AlreadyExists(f'A VM named "{new_name}" already exists')
    xml_version = store.read_versioned("domain.xml", domain=rec.uuid).version
    status_version = store.read_versioned("domain.status", domain=rec.uuid).version
    (store.txn()
     .check("domain.status", status_version, domain=rec.uuid)
     .set("domain.xml", vmxml.rename(rec.xml, new_name), version=xml_version, domain=rec.uuid)
     .set("domain", new_name, domain=rec.uuid)
     .delete("index.domain_name", name=rec.name)
     .create("index.domain_name", rec.uuid, name=new_name)
     .commit())
    return f'Renamed VM "{rec.name}" to "{new_name}".'


def end_provision(store: Store, uuid: str, start: bool) -> str:
    """A VM the provisioner built leaves state `provision`: to `start` or `stop`."""
    status, version = store.read_versioned("domain.status", domain=uuid)
    current = vm.status_of(status)
    if current["state"] != "provision":
        raise InvalidState(f"VM {uuid} is in state {current['state']}, not provision")
    state = "start" if start else "stop"
    seq = int((current["intent"] or {}).get("seq", 0)) + 1
    store.write("domain.status", {**current, "state": state, "failed_reason": "",
                                  "intent": {"force": False, "seq": seq}},
                version=version, domain=uuid)
    return state
