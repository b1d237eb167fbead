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
    ConnectionDropped,
    ConnectionLoss,
    KazooException,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    OperationTimeoutError,
    RolledBackError,
    SessionExpiredError,
    SessionMovedError,
)
from kazoo.handlers.threading import KazooTimeoutError

from pvc.common.errors import AlreadyExists, BackendError, Conflict, NotFound, StateUnreachable
from pvc.state.schema import CURRENT, Key, Schema

# What kazoo raises when ZooKeeper cannot be asked at all (its ConnectionClosedError, a
# client that is stopping, is a SessionExpiredError).
UNREACHABLE: tuple[type[Exception], ...] = (
    ConnectionLoss, ConnectionDropped, SessionExpiredError, SessionMovedError,
    OperationTimeoutError, KazooTimeoutError)


def zk_error(what: str, exc: Exception) -> BackendError:
    """Our error for a failed ZooKeeper call: StateUnreachable when ZooKeeper could not be
    asked, BackendError otherwise."""
    cls = StateUnreachable if isinstance(exc, UNREACHABLE) else BackendError
    return cls(f"ZooKeeper {what} failed: {exc!r}")


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

    def delete_tree(self, root: str) -> Txn:
        """Delete a path and everything under it, children first."""
        for path in sorted(self.store.walk(root), key=lambda p: p.count("/"), reverse=True):
            self.delete_path(path)
        return self

    def commit(self) -> None:
        self.store.commit(self.ops, self.ephemeral_paths)
        self.ops = []
        self.ephemeral_paths = set()


class Store:
    """`read_timeout`: how long a read may wait for any answer from ZooKeeper (for each
    answer of a pipelined batch) before it fails as StateUnreachable; None waits as long as
    it takes. kazoo holds a request made while the connection is down until it is back, so
    without a bound a stalled or unreachable server holds the caller as long: the API sets
    one and answers 503 instead of not at all. Writes always wait: one given up on could
    still apply after the caller was told it failed."""

    def __init__(self, client: KazooClient, schema: Schema = CURRENT,
                 read_timeout: float | None = None) -> None:
        self.zk = client
        self.schema = schema
        self.read_timeout = read_timeout

    # -- reads ----------------------------------------------------------
    def path(self, key: str, **params: Any) -> str:
        return self.schema.key(key).path(**params)

    # -- the two ways of reading; everything else is built on them ----------
    def fetch_many(self, paths: list[str]) -> list[tuple[bytes, Any] | None]:
        """(data, stat) of each path, pipelined; None where it does not exist."""
        asyncs = [self.zk.get_async(p) for p in paths]
        out: list[tuple[bytes, Any] | None] = []
        for a in asyncs:
            try:
                data, stat = a.get(timeout=self.read_timeout)
                out.append((data, stat))
            except NoNodeError:
                out.append(None)
            except (KazooException, KazooTimeoutError) as exc:
                raise self._read_error("read", exc) from exc
        return out

    def children_of(self, path: str) -> list[str] | None:
        """The names of the children of a path, None if it does not exist."""
        try:
            return list(self.zk.get_children_async(path).get(timeout=self.read_timeout))
        except NoNodeError:
            return None
        except (KazooException, KazooTimeoutError) as exc:
            raise self._read_error(f"list of {path}", exc) from exc

    def _read_error(self, what: str, exc: Exception) -> BackendError:
        if isinstance(exc, KazooTimeoutError) and self.read_timeout is not None:
            return StateUnreachable(f"ZooKeeper did not answer a {what} within "
                                    f"{self.read_timeout:g} s ({self.zk.state.lower()})")
        return zk_error(what, exc)

    def object_version(self, path: str) -> int | None:
        """A number that changes whenever anything of the object holding `path` changes (a
        VM: `/domains/<uuid>` and every key under it), for caches of what is derived from
        it; None when this store cannot tell (it reads ZooKeeper each time)."""
        return None

    # -- typed reads --------------------------------------------------------
    def read_versioned(self, key: str, **params: Any) -> Versioned:
        k = self.schema.key(key)
        path = k.path(**params)
        found = self.fetch_many([path])[0]
        if found is None:
            raise NotFound(f"State key {path} does not exist")
        return Versioned(k.codec.decode(found[0]), found[1].version)

    def read(self, key: str, default: Any = ..., **params: Any) -> Any:
        try:
            return self.read_versioned(key, **params).value
        except NotFound:
            if default is ...:
                raise
            return default

    def exists(self, key: str, **params: Any) -> bool:
        return self.fetch_many([self.path(key, **params)])[0] is not None

    def children(self, key: str, **params: Any) -> list[str]:
        path = self.path(key, **params)
        found = self.children_of(path)
        if found is None:
            raise NotFound(f"State key {path} does not exist")
        return sorted(found)

    def read_many(self, requests: Iterable[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Read many keys at once (pipelined); a missing key reads as None."""
        keys: list[Key] = []
        paths: list[str] = []
        for name, params in requests:
            k = self.schema.key(name)
            keys.append(k)
            paths.append(k.path(**params))
        return [None if found is None else k.codec.decode(found[0])
                for k, found in zip(keys, self.fetch_many(paths), strict=True)]

    def read_paths(self, paths: list[str]) -> list[bytes | None]:
        """Raw pipelined read of arbitrary paths (for backups and bulk listings)."""
        return [None if found is None else found[0] for found in self.fetch_many(paths)]

    def walk(self, root: str = "/") -> Iterator[str]:
        """Every path under root (root included unless it is '/'), parents before children."""
        stack = [root]
        while stack:
            path = stack.pop()
            if path != "/":
                yield path
            kids = self.children_of(path)
            if kids is None:
                continue
            base = "" if path == "/" else path
            stack.extend(f"{base}/{c}" for c in sorted(kids, reverse=True))

    # -- writes ---------------------------------------------------------
    def txn(self) -> Txn:
        return Txn(self)

    def write(self, key: str, value: Any, version: int = -1, **params: Any) -> None:
        """Set one existing key (conditional on `version` when given)."""
        self.txn().set(key, value, version, **params).commit()

    def commit(
        self, ops: list[tuple[str, str, bytes, int]], ephemeral: set[str] | None = None
    ) -> list[Any]:
        """Apply `ops` as one transaction; ZooKeeper's result of each (a set's new stat)."""
        if not ops:
            return []
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
            raise zk_error("transaction", exc) from exc
        for (op, path, _, _), res in zip(ops, results, strict=True):
            if isinstance(res, Exception) and not isinstance(res, RolledBackError):
                raise _map_error(op, path, res)
        return list(results)


def _map_error(op: str, path: str, exc: Exception) -> Exception:
    if isinstance(exc, BadVersionError):
        return Conflict(f"{path} was changed by someone else; re-read and try again")
    if isinstance(exc, NoNodeError):
        return NotFound(f"State key {path} does not exist ({op})")
    if isinstance(exc, NodeExistsError):
        return AlreadyExists(f"State key {path} already exists")
    if isinstance(exc, NotEmptyError):
        return Conflict(f"State key {path} still has children ({op})")
    return zk_error(f"{op} of {path}", exc)
