"""What a task body in the worker works with: the node's Config, a ZooKeeper Store and the
Ceph storage driver, each opened once per worker process.

`pvcworkerd` calls `configure(config, node, zookeeper=...)` before its pool forks; the
children inherit those settings and open their own connections on first use (a ZooKeeper
session or a librados handle does not survive a fork, so a process never uses one that
another process opened). A body asks for what it needs:

    store = context.store()        # kazoo connected to the ensemble (or --zookeeper)
    storage = context.storage()    # CephStorage from ceph_config_file/ceph_keyring_file

Without a configuration (a worker started with only --redis-url) `config()`, `store()` and
`storage()` raise Unavailable: such a worker runs only bodies that need none of them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kazoo.client import KazooClient

from pvc.common.config import Config
from pvc.common.errors import PVCError, Unavailable
from pvc.drivers.storage.base import Storage
from pvc.state import connect
from pvc.state.store import Store

if TYPE_CHECKING:
    from pvc.db.engine import Database

log = logging.getLogger("pvcworkerd")

# How long a body waits for ZooKeeper when it first needs it, and for a Ceph command.
ZK_CONNECT_TIMEOUT = 15.0
CEPH_TIMEOUT = 30.0


@dataclass(frozen=True)
class Settings:
    config: Config | None
    node: str
    zookeeper: str | None  # a kazoo host string (with an optional chroot) overriding config


@dataclass
class _Opened:
    pid: int
    zk: KazooClient | None = None
    store: Store | None = None
    storage: Storage | None = None
    db: Database | None = None


_LOCK = threading.Lock()
_settings: Settings | None = None
_opened: _Opened | None = None


def configure(config: Config | None, node: str, zookeeper: str | None = None) -> None:
    """Set what this process's task bodies work with (closing anything opened before)."""
    global _settings
    close()
    with _LOCK:
        _settings = Settings(config, node, zookeeper)


def settings() -> Settings:
    if _settings is None:
        raise Unavailable("This worker was not configured (no pvc.conf loaded)")
    return _settings


def config() -> Config:
    """The node's configuration (pvc.conf as the worker loaded it)."""
    conf = settings().config
    if conf is None:
        raise Unavailable("This worker runs without a pvc.conf: start it with --config")
    return conf


def node() -> str:
    """The node this worker serves."""
    return settings().node


def _current() -> _Opened:
    """This process's connections (forgotten, not closed, when they were opened by the
    parent before a fork: the parent still owns them)."""
    global _opened
    pid = os.getpid()
    if _opened is None or _opened.pid != pid:
        _opened = _Opened(pid)
    return _opened


def store() -> Store:
    """The ZooKeeper store, connected on first use in this process."""
    with _LOCK:
        opened = _current()
        if opened.store is not None:
            return opened.store
        conf = config()
        hosts = settings().zookeeper or conf.zookeeper_hosts(prefer=node())
        zk = connect.client(hosts, conf.zookeeper_session_timeout)
        try:
            zk.start(timeout=ZK_CONNECT_TIMEOUT)
        except Exception as exc:  # kazoo's timeout, or a bad host string
            with contextlib.suppress(Exception):
                zk.stop()
                zk.close()
            raise Unavailable(f"Cannot reach ZooKeeper at {hosts}: {exc}") from exc
        opened.zk, opened.store = zk, Store(zk)
        return opened.store


def storage() -> Storage:
    """The Ceph driver (it connects on first use) for the configured ceph.conf/keyring."""
    with _LOCK:
        opened = _current()
        if opened.storage is None:
            conf = config()
            if not conf.enable_storage:
                raise Unavailable("The storage subsystem is not enabled on this cluster "
                                  "(subsystem.enable_storage in pvc.conf)")
            from pvc.drivers.storage.ceph import CephStorage

            opened.storage = CephStorage(conf.ceph_config_file, conf.ceph_keyring_file,
                                         timeout=CEPH_TIMEOUT)
        return opened.storage


def database() -> Database:
    """The provisioner's database (pvc.conf's database.postgres), opened on first use;
    Unavailable when pvc.conf gives it no password (the provisioner is off)."""
    with _LOCK:
        opened = _current()
        if opened.db is None:
            from pvc.db.engine import Database
            from pvc.db.spec import api_spec

            spec = api_spec(config())
            if spec is None:
                raise Unavailable("The provisioner's database is not configured "
                                  "(database.postgres.credentials.api.password in pvc.conf)")
            opened.db = Database(spec)
        return opened.db


def close() -> None:
    """Close this process's connections (the next use opens new ones)."""
    global _opened
    with _LOCK:
        opened, _opened = _opened, None
    if opened is None or opened.pid != os.getpid():
        return
    if opened.storage is not None:
        closer = getattr(opened.storage, "close", None)
        if callable(closer):
            with contextlib.suppress(PVCError, OSError):
                closer()
    if opened.db is not None:
        with contextlib.suppress(Exception):
            opened.db.close()
    if opened.zk is not None:
        with contextlib.suppress(Exception):
            opened.zk.stop()
            opened.zk.close()
