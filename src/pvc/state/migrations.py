"""Schema migrations: move a live tree from schema version N to N+1 in one transaction.

A step is derived from the two schema tables (keys added, removed, or renamed by logical
name) and may add its own transform. Every instance of a per-object key is found by
walking the tree along the key's template.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NoNodeError

from pvc.common.errors import InvalidState
from pvc.state.schema import LATEST, SCHEMAS, Key, Schema
from pvc.state.store import Store, Txn

Transform = Callable[[Store, Txn], None]
# Extra, hand-written work for a step (keyed by the version it starts from).
TRANSFORMS: dict[int, Transform] = {}


def bindings(store: Store, template: str) -> list[dict[str, str]]:
    """Every assignment of the template's placeholders that exists in the tree."""
    parts = [p for p in template.split("/") if p]
    found: list[tuple[str, dict[str, str]]] = [("", {})]
    for part in parts:
        nxt: list[tuple[str, dict[str, str]]] = []
        for prefix, binding in found:
            if part.startswith("{") and part.endswith("}"):
                try:
                    kids = store.zk.get_children(prefix or "/")
                except NoNodeError:
                    continue
                for kid in sorted(kids):
                    nxt.append((f"{prefix}/{kid}", {**binding, part[1:-1]: kid}))
            else:
                nxt.append((f"{prefix}/{part}", binding))
        found = nxt
    return [b for _, b in found]


def _parent_bindings(store: Store, key: Key) -> list[dict[str, str]]:
    parent = key.template.rsplit("/", 1)[0] or "/"
    if "{" not in parent:
        return [{}]
    return bindings(store, parent)


def plan_step(store: Store, old: Schema, new: Schema, txn: Txn) -> None:
    renamed_sources = set(new.renamed_from.values())
    for name, key in new.keys.items():
        if key.ephemeral:
            continue
        source = new.renamed_from.get(name)
        if source is not None:
            old_key = old.key(source)
            for b in bindings(store, old_key.template):
                data, _ = store.zk.get(old_key.path(**b))
                txn.create_path(key.path(**b), data)
                txn.delete_path(old_key.path(**b))
            continue
        if name in old.keys:
            continue
        if key.template.rsplit("/", 1)[-1].startswith("{"):
            continue  # an object key: objects are created by their owners, not migrations
        default = b"" if key.default is None else key.codec.encode(key.default)
        for b in _parent_bindings(store, key):
            path = key.path(**b)
            if store.zk.exists(path) is None:
                txn.create_path(path, default)
    for name, key in old.keys.items():
        if name in new.keys or name in renamed_sources or key.ephemeral:
            continue
        for b in bindings(store, key.template):
            txn.delete_path(key.path(**b))
    transform = TRANSFORMS.get(old.version)
    if transform is not None:
        transform(store, txn)
    txn.set_path("/schema/version", str(new.version).encode())


def current_version(store: Store) -> int | None:
    try:
        data, _ = store.zk.get("/schema/version")
    except NoNodeError:
        return None
    return int(data.decode() or 0)


def migrate(store: Store, target: int = LATEST, log: Callable[[str], Any] | None = None) -> int:
    """Apply every step from the tree's version up to `target`, one transaction each."""
    version = current_version(store)
    if version is None:
        raise InvalidState("The cluster has no schema yet; initialize it first")
    if version > target:
        raise InvalidState(
            f"The cluster's schema v{version} is newer than this software's v{target}"
        )
    while version < target:
        old, new = SCHEMAS[version], SCHEMAS[version + 1]
        txn = Store(store.zk, new).txn()
        plan_step(store, old, new, txn)
        txn.commit()
        if log:
            log(f"Migrated cluster schema from v{old.version} to v{new.version}")
        version += 1
    return version
