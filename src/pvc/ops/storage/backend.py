"""The storage backend that the storage operations work on: the drivers' `Storage`
contract, and the cluster's own backend (Ceph) opened from `pvc.conf`. The API reaches
storage only through here and the other operations of this package.
"""

from __future__ import annotations

from pvc.common.config import Config
from pvc.drivers.storage.base import Storage

__all__ = ["Storage", "open_storage"]


def open_storage(config: Config) -> Storage | None:
    """The Ceph driver when the storage subsystem is on (it connects on first use)."""
    if not config.enable_storage:
        return None
    from pvc.drivers.storage.ceph import CephStorage  # librados only where storage is on

    return CephStorage(config.ceph_config_file, config.ceph_keyring_file)
