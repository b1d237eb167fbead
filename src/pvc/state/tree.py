"""Whole-tree operations: initialize, ensure at start-up, backup and restore."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
from typing import Any

from kazoo.exceptions import NoNodeError
from kazoo.recipe.lock import Lock

from pvc.common.errors import BackendError, InvalidArgument, InvalidState
from pvc.state import migrations
from pvc.state.schema import CURRENT, LATEST, Schema
from pvc.state.store import Store

BACKUP_FORMAT = "pvc-cluster-backup"
# Runtime coordination (locks, leases, Patroni's leader and members) is never backed up,
# restored or wiped by init.
_RUNTIME_ROOTS = ("/zookeeper", "/locks", "/patroni")


def _is_runtime(path: str) -> bool:
    return any(path == r or path.startswith(r + "/") for r in _RUNTIME_ROOTS)


def base_tree(schema: Schema = CURRENT) -> list[tuple[str, bytes]]:
    """(path, data) of every root key of a fresh cluster, parents first."""
    out: dict[str, bytes] = {"/schema": b""}
    for key in schema.root_keys():
        parts = key.template.strip("/").split("/")
        for i in range(1, len(parts)):
            out.setdefault("/" + "/".join(parts[:i]), b"")
        out[key.template] = b"" if key.default is None else key.codec.encode(key.default)
    return sorted(out.items(), key=lambda kv: (kv[0].count("/"), kv[0]))


def _data_paths(store: Store) -> list[str]:
    return [p for p in store.walk("/") if not _is_runtime(p)]


def initialize(store: Store, overwrite: bool = False, schema: Schema = CURRENT) -> None:
    """Create the base tree; with overwrite, first remove every existing key."""
    existing = _data_paths(store)
    if existing and not overwrite:
        raise InvalidState("The cluster is already initialized; use overwrite to wipe it")
    txn = Store(store.zk, schema).txn()
    for path in sorted(existing, key=lambda p: p.count("/"), reverse=True):
        txn.delete_path(path)
    for path, data in base_tree(schema):
        if path == "/locks" and store.zk.exists("/locks") is not None:
            continue
        txn.create_path(path, data)
    txn.commit()


def ensure(store: Store, lock_identifier: str, log: Any = None) -> int:
    """At daemon start: create the base tree if absent, fill in missing root keys, and
    migrate an older tree, under a lock so only one daemon does it at a time."""
    store.zk.ensure_path("/locks")
    lock = Lock(store.zk, "/locks/schema", identifier=lock_identifier)
    if not lock.acquire(timeout=30):
        raise BackendError("Timed out waiting for the schema lock")
    try:
        version = migrations.current_version(store)
        if version is None:
            initialize(store, overwrite=False)
            if log:
                log(f"Initialized an empty cluster at schema v{LATEST}")
            return LATEST
        if version > LATEST:
            raise InvalidState(f"Cluster schema v{version} is newer than this software (v{LATEST})")
        if version < LATEST:
            migrations.migrate(store, LATEST, log)
        txn = store.txn()
        for path, data in base_tree(CURRENT):
            if store.zk.exists(path) is None:
                txn.create_path(path, data)
        txn.commit()
        return LATEST
    finally:
        lock.release()


# -- backup and restore -----------------------------------------------------

def backup(store: Store) -> dict[str, Any]:
    paths = _data_paths(store)
    values = store.read_paths(paths)
    keys: dict[str, str] = {}
    binary: dict[str, str] = {}
    for path, data in zip(paths, values, strict=True):
        if data is None:
            continue  # removed while we walked
        try:
            keys[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            binary[path] = base64.b64encode(data).decode()
    version = migrations.current_version(store)
    return {
        "format": BACKUP_FORMAT,
        "schema_version": version,
        "created": int(time.time()),
        "keys": keys,
        "binary": binary,
    }


def _check_path(path: str) -> None:
    parts = path.split("/")
    bad = (not path.startswith("/") or path.endswith("/") or "//" in path or _is_runtime(path)
           or any(p in (".", "..") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in p)
                  for p in parts[1:]))
    if bad:
        raise InvalidArgument(f"The backup holds an invalid or runtime path: {path!r}")


def _parse_backup(data: Any) -> tuple[int, dict[str, bytes]]:
    for _ in range(2):  # GET /backup double-encodes: accept the JSON text either way
        if not isinstance(data, str):
            break
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"The backup is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT:
        raise InvalidArgument("The data is not a PVC cluster backup")
    version = data.get("schema_version")
    keys, binary = data.get("keys"), data.get("binary", {})
    if not isinstance(version, int) or not isinstance(keys, dict) or not isinstance(binary, dict):
        raise InvalidArgument("The backup is malformed (schema_version, keys or binary)")
    out: dict[str, bytes] = {}
    for path, value in keys.items():
        out[str(path)] = str(value).encode("utf-8")
    for path, value in binary.items():
        try:
            out[str(path)] = base64.b64decode(str(value), validate=True)
        except binascii.Error as exc:
            raise InvalidArgument(
                f"The backup is malformed: the value of {path} is not base64 ({exc})"
            ) from exc
    for path in out:
        _check_path(path)
        parent = path.rsplit("/", 1)[0]
        if parent and parent not in out:
            raise InvalidArgument(f"The backup holds {path} without its parent {parent}")
    return version, out


def restore(store: Store, data: Any) -> int:
    """Make the tree equal to the backup, in one transaction. Returns the key count."""
    version, wanted = _parse_backup(data)
    running = migrations.current_version(store)
    if version != running or version != store.schema.version:
        raise InvalidState(
            f"The backup has schema v{version} but the cluster runs v{running}; "
            "restore refuses a different schema version"
        )
    present = _data_paths(store)
    current = dict(zip(present, store.read_paths(present), strict=True))
    txn = store.txn()
    for path in sorted(set(current) - set(wanted), key=lambda p: p.count("/"), reverse=True):
        txn.delete_path(path)
    for path in sorted(wanted, key=lambda p: (p.count("/"), p)):
        if path not in current:
            txn.create_path(path, wanted[path])
        elif current[path] != wanted[path]:
            txn.set_path(path, wanted[path])
    txn.commit()
    return len(wanted)


def read_all(store: Store) -> dict[str, bytes]:
    """Every data key and its bytes (used by tests and tools to compare trees)."""
    paths = _data_paths(store)
    return {p: d for p, d in zip(paths, store.read_paths(paths), strict=True) if d is not None}


def delete_tree(store: Store, root: str) -> None:
    with contextlib.suppress(NoNodeError):
        store.zk.delete(root, recursive=True)
