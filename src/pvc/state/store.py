"""Typed access to cluster state in ZooKeeper.

`Store.read()` decodes a key of the schema table; `Store.read_versioned()` also returns the
znode version so that a later write can be made conditional on it; `Store.txn()` builds one
ZooKeeper transaction for a multi-key change: either every operation applies or none does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    KazooException,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
)
from kazoo.handlers.threading import KazooTimeoutError

from pvc.common.errors import AlreadyExists, BackendError, Conflict, NotFound
from pvc.state.schema import CURRENT, Key, Schema


class Versioned(NamedTuple):
    value: Any
    version: int


@dataclass
class Txn:
    """A multi-key change, committed atomically. Build with the fluent methods."""

    store: Store
    ops: list[tuple[str, str, bytes, int]] = field(default_factory=list)
    ephemeral_paths: set[str] = field(default_factory=set)

    def _p(self, key: str, params: dict[str, Any]) -> tuple[Key, str]:
        k = self.store.schema.key(key)
        return k, k.path(**params)

    def create(self, key: str, value: Any = None, ephemeral: bool = False, **params: Any) -> Txn:
        k, path = self._p(key, params)
        data = b"" if value is None else k.codec.encode(value)
        self.ops.append(("create", path, data, -1))
        if ephemeral:
            self.ephemeral_paths.add(path)
        return self

    def set(self, key: str, value: Any, version: int = -1, **params: Any) -> Txn:
        """Set a key; with `version` >= 0 the commit fails if the key changed since read."""
        k, path = self._p(key, params)
        self.ops.append(("set", path, k.codec.encode(value), version))
        return self

    def delete(self, key: str, version: int = -1, **params: Any) -> Txn:
        _, path = self._p(key, params)
        self.ops.append(("delete", path, b"", version))
        return self

    def check(self, key: str, version: int, **params: Any) -> Txn:
        _, path = self._p(key, params)
        self.ops.append(("check", path, b"", version))
        return self

    # raw-path operations, for tree-wide work (restore, migrations)
    def create_path(self, path: str, data: bytes = b"") -> Txn:
        self.ops.append(("create", path, data, -1))
        return self

    def set_path(self, path: str, data: bytes, version: int = -1) -> Txn:
        self.ops.append(("set", path, data, version))
        return self

    def delete_path(self, path: str, version: int = -1) -> Txn:
        self.ops.append(("delete", path, b"", version))
        return self

    def commit(self) -> None:
        self.store.commit(self.ops, self.ephemeral_paths)
        self.ops = []
        self.ephemeral_paths = set()


class Store:
    def __init__(self, client: KazooClient, schema: Schema = CURRENT) -> None:
        self.zk = client
        self.schema = schema

    # -- reads ----------------------------------------------------------
    def path(self, key: str, **params: Any) -> str:
        return self.schema.key(key).path(**params)

    def read_versioned(self, key: str, **params: Any) -> Versioned:
        k = self.schema.key(key)
        path = k.path(**params)
        try:
            data, stat = self.zk.get(path)
        except NoNodeError:
            raise NotFound(f"State key {path} does not exist") from None
        except (KazooException, KazooTimeoutError) as exc:
            raise BackendError(f"ZooKeeper read of {path} failed: {exc!r}") from exc
        return Versioned(k.codec.decode(data), stat.version)

    def read(self, key: str, default: Any = ..., **params: Any) -> Any:
        try:
            return self.read_versioned(key, **params).value
        except NotFound:
            if default is ...:
                raise
            return default

    def exists(self, key: str, **params: Any) -> bool:
        try:
            return self.zk.exists(self.path(key, **params)) is not None
        except (KazooException, KazooTimeoutError) as exc:
            raise BackendError(f"ZooKeeper exists() failed: {exc!r}") from exc

    def children(self, key: str, **params: Any) -> list[str]:
        path = self.path(key, **params)
        try:
            return sorted(self.zk.get_children(path))
        except NoNodeError:
            raise NotFound(f"State key {path} does not exist") from None
        except (KazooException, KazooTimeoutError) as exc:
            raise BackendError(f"ZooKeeper list of {path} failed: {exc!r}") from exc

    def read_many(self, requests: Iterable[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Read many keys at once (pipelined); a missing key reads as None."""
        keys: list[Key] = []
        asyncs = []
        for name, params in requests:
            k = self.schema.key(name)
            keys.append(k)
            asyncs.append(self.zk.get_async(k.path(**params)))
        out: list[Any] = []
        for k, a in zip(keys, asyncs, strict=True):
            try:
                data, _ = a.get()
            except NoNodeError:
                out.append(None)
                continue
            except (KazooException, KazooTimeoutError) as exc:
                raise BackendError(f"ZooKeeper read failed: {exc!r}") from exc
            out.append(k.codec.decode(data))
        return out

    def read_paths(self, paths: list[str]) -> list[bytes | None]:
        """Raw pipelined read of arbitrary paths (for backups and bulk listings)."""
        asyncs = [self.zk.get_async(p) for p in paths]
        out: list[bytes | None] = []
        for a in asyncs:
            try:
                data, _ = a.get()
                out.append(data)
            except NoNodeError:
                out.append(None)
            except (KazooException, KazooTimeoutError) as exc:
                raise BackendError(f"ZooKeeper read failed: {exc!r}") from exc
        return out

    def walk(self, root: str = "/") -> Iterator[str]:
        """Every path under root (root included unless it is '/'), parents before children."""
        stack = [root]
        while stack:
            path = stack.pop()
            if path != "/":
                yield path
            try:
                kids = sorted(self.zk.get_children(path), reverse=True)
            except NoNodeError:
                continue
            base = "" if path == "/" else path
            stack.extend(f"{base}/{c}" for c in kids)

    # -- writes ---------------------------------------------------------
    def txn(self) -> Txn:
        return Txn(self)

    def write(self, key: str, value: Any, version: int = -1, **params: Any) -> None:
        """Set one existing key (conditional on `version` when given)."""
        self.txn().set(key, value, version, **params).commit()

    def commit(
        self, ops: list[tuple[str, str, bytes, int]], ephemeral: set[str] | None = None
    ) -> None:
        if not ops:
            return
        t = self.zk.transaction()
        for op, path, data, version in ops:
            if op == "create":
                t.create(path, data, ephemeral=bool(ephemeral and path in ephemeral))
            elif op == "set":
                t.set_data(path, data, version)
            elif op == "delete":
                t.delete(path, version)
            elif op == "check":
                t.check(path, version)
        try:
            results = t.commit()
        except (KazooException, KazooTimeoutError) as exc:
            raise BackendError(f"ZooKeeper transaction failed: {exc!r}") from exc
        for (op, path, _, _), res in zip(ops, results, strict=True):
            if isinstance(res, Exception) and not isinstance(res, RolledBackError):
                raise _map_error(op, path, res)


def _map_error(op: str, path: str, exc: Exception) -> Exception:
    if isinstance(exc, BadVersionError):
        return Conflict(f"{path} was changed by someone else; re-read and try again")
    if isinstance(exc, NoNodeError):
        return NotFound(f"State key {path} does not exist ({op})")
    if isinstance(exc, NodeExistsError):
        return AlreadyExists(f"State key {path} already exists")
    if isinstance(exc, NotEmptyError):
        return Conflict(f"State key {path} still has children ({op})")
    return BackendError(f"ZooKeeper {op} of {path} failed: {exc!r}")
