"""Reading VM records: resolve a name or UUID, read one or many VMs (pipelined), filter."""

from __future__ import annotations

import functools
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pvc.common import names, vm, vmxml
from pvc.common.errors import InvalidArgument, NotFound
from pvc.ops.node.records import limit_matcher
from pvc.state.store import Store

# Keys a VM listing reads per VM, in this order.
_LIST_KEYS = ("domain", "domain.xml", "domain.status", "domain.meta", "domain.tags")
_INFO_KEYS = (*_LIST_KEYS, "domain.stats", "domain.vnc")
T = TypeVar("T")


@functools.lru_cache(maxsize=16384)
def parse_cached(xml: str) -> vmxml.DomainSpec:
    """Domain XML rarely changes: parse each distinct document once."""
    return vmxml.parse(xml)


@dataclass(frozen=True)
class VmRecord:
    uuid: str
    name: str
    xml: str
    spec: vmxml.DomainSpec | None  # None when the stored XML does not parse
    status: dict[str, Any]
    meta: dict[str, Any]
    tags: list[dict[str, Any]]
    stats: dict[str, Any]
    vnc: str

    @property
    def state(self) -> str:
        return str(self.status["state"])

    @property
    def node(self) -> str:
        return str(self.status["node"])

    @property
    def memory_mib(self) -> int:
        return self.spec.memory_mib if self.spec else 0


def _is_uuid(value: str) -> bool:
    try:
        return str(uuidlib.UUID(value)) == value
    except ValueError:
        return False


def resolve(store: Store, ident: str) -> str:
    """The UUID of the VM named (or identified by) `ident`."""
    if _is_uuid(ident):
        if store.exists("domain", domain=ident):
            return ident
        raise NotFound(f'VM "{ident}" not found.')
    names.object_name(ident, "VM name")
    found = store.read("index.domain_name", default=None, name=ident)
    if not found:
        raise NotFound(f'VM "{ident}" not found.')
    return str(found)


def all_uuids(store: Store) -> list[str]:
    try:
        return [u for u in store.children("root.domains") if _is_uuid(u)]
    except NotFound:
        return []


def _record(uuid: str, values: list[Any]) -> VmRecord | None:
    name, xml, status, meta, tags = values[:5]
    if name is None:
        return None  # removed while we read
    try:
        spec: vmxml.DomainSpec | None = parse_cached(xml or "")
    except InvalidArgument:
        spec = None
    stats = values[5] if len(values) > 5 and isinstance(values[5], dict) else {}
    vnc = values[6] if len(values) > 6 and isinstance(values[6], str) else ""
    return VmRecord(
        uuid=uuid, name=str(name), xml=xml or "", spec=spec,
        status=vm.status_of(status), meta=vm.meta_of(meta),
        tags=[t for t in tags if isinstance(t, dict)] if isinstance(tags, list) else [],
        stats=stats, vnc=vnc,
    )


def read_vms(store: Store, uuids: list[str], full: bool = False) -> list[VmRecord]:
    keys = _INFO_KEYS if full else _LIST_KEYS
    values = store.read_many([(k, {"domain": u}) for u in uuids for k in keys])
    width = len(keys)
    out = []
    for i, u in enumerate(uuids):
        rec = _record(u, values[i * width:(i + 1) * width])
        if rec is not None:
            out.append(rec)
    return out


def get_vm(store: Store, ident: str) -> VmRecord:
    uuid = resolve(store, ident)
    found = read_vms(store, [uuid], full=True)
    if not found:
        raise NotFound(f'VM "{ident}" not found.')
    return found[0]


def check_filters(node: str | None, state: str | None) -> None:
    if node:
        names.node_name(node)
    if state and state not in vm.STATES:
        raise InvalidArgument(f"Invalid VM state {state!r}: use one of {', '.join(vm.STATES)}")


def select(records: Iterable[VmRecord], limit: str | None = None, node: str | None = None,
           state: str | None = None, tag: str | None = None,
           negate: bool = False) -> list[VmRecord]:
    """PVC's VM list filters: `limit` matches names fuzzily (or is exactly a UUID); node,
    state and tag filter, and `negate` inverts those three. Sorted by name."""
    by_uuid = limit if limit and _is_uuid(limit) else None
    matcher = None if by_uuid else limit_matcher(limit)
    out = []
    for rec in sorted(records, key=lambda r: r.name):
        if by_uuid and rec.uuid != by_uuid:
            continue
        if matcher and not matcher.match(rec.name):
            continue
        checks = []
        if node:
            checks.append(rec.node == node)
        if state:
            checks.append(rec.state == state)
        if tag:
            checks.append(any(t.get("name") == tag for t in rec.tags))
        if checks and (all(checks) == negate):
            continue
        out.append(rec)
    return out


def list_vms(store: Store, limit: str | None = None, node: str | None = None,
             state: str | None = None, tag: str | None = None,
             negate: bool = False) -> list[VmRecord]:
    """PVC's VM list (see `select`), read afresh."""
    check_filters(node, state)
    return select(read_vms(store, all_uuids(store), full=True), limit, node, state, tag, negate)


class RecordCache(Generic[T]):
    """Every VM's full record, and what a caller derives from it (`derive`: its rendered
    answer, say), kept between listings: a listing reads and derives again only the VMs
    that changed since, as the store's `object_version` tells. A store that cannot tell
    (no mirror) gets everything read afresh."""

    def __init__(self, derive: Callable[[VmRecord], T]) -> None:
        self.derive = derive
        self._entries: dict[str, tuple[int, VmRecord, T]] = {}

    def all(self, store: Store) -> list[tuple[VmRecord, T]]:
        uuids = all_uuids(store)
        root = store.path("root.domains")
        # versions before the reads: a change between the two is read again next time
        versions = [store.object_version(f"{root}/{u}") for u in uuids]
        entries = self._entries
        stale = [u for u, v in zip(uuids, versions, strict=True)
                 if v is None or u not in entries or entries[u][0] != v]
        fresh = {r.uuid: r for r in read_vms(store, stale, full=True)}
        kept: dict[str, tuple[int, VmRecord, T]] = {}
        out = []
        for u, v in zip(uuids, versions, strict=True):
            if u in fresh:
                entry = (v if v is not None else -1, fresh[u], self.derive(fresh[u]))
            elif u in entries and v is not None and entries[u][0] == v:
                entry = entries[u]
            else:
                continue  # removed while read
            if v is not None:
                kept[u] = entry
            out.append((entry[1], entry[2]))
        self._entries = kept  # VMs gone since are forgotten
        return out
