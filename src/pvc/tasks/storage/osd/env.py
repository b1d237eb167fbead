"""What an OSD task works with: its node, the cluster state, Ceph and service control
(`OsdEnv`, under a per-node lock), and its numbered progress (`Steps`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pvc.common import names
from pvc.common.config import Config
from pvc.common.errors import InvalidArgument, InvalidState
from pvc.node.services import ServiceControl
from pvc.node.services import from_config as services_from_config
from pvc.state.store import Store
from pvc.tasks import progress
from pvc.tasks.progress import ProgressTask
from pvc.tasks.storage.osd.ceph import OsdCeph

CEPH_USER = "ceph"


@dataclass
class OsdEnv:
    """A task's node, cluster state, Ceph and service control."""

    node: str
    store: Store
    ceph: OsdCeph
    services: ServiceControl
    ceph_user: str | None = None  # chown the OSD's files to it (systemd runs OSDs as ceph)
    lock_file: Path | None = None  # serializes the OSD work of this node's tasks
    figures: Callable[[], list[dict[str, Any]]] | None = None  # Storage.osd_list

    @contextlib.contextmanager
    def locked(self, steps: Steps) -> Iterator[None]:
        """Hold this node's OSD lock (two tasks must not pick the same id or device)."""
        if self.lock_file is None:
            yield
            return
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                steps.note("Waiting for another OSD task of this node to finish")
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @classmethod
    def from_config(cls, config: Config, node: str, store: Store) -> OsdEnv:
        if not config.enable_storage:
            raise InvalidState("The storage subsystem is not enabled on this cluster "
                               "(subsystem.enable_storage in pvc.conf)")
        from pvc.drivers.storage.ceph_conn import CephConnection

        conn = CephConnection(config.ceph_config_file, config.ceph_keyring_file, "admin", 30)
        user = None
        if config.ceph_service_control == "systemd":
            with contextlib.suppress(KeyError):
                user = pwd.getpwnam(CEPH_USER).pw_name
        return cls(node, store, OsdCeph(conn, config.ceph_config_file),
                   services_from_config(config), user,
                   config.dynamic_directory / "osd-tasks.lock")

    def close(self) -> None:
        self.ceph.conn.close()


@contextlib.contextmanager
def worker_env() -> Iterator[OsdEnv]:
    """The environment of the worker process running the task (`pvc.tasks.context`)."""
    from pvc.tasks import context

    env = OsdEnv.from_config(context.config(), context.node(), context.store())
    env.figures = context.storage().osd_list
    try:
        yield env
    finally:
        env.close()


class Steps:
    """Numbered progress reports of one task."""

    def __init__(self, task: ProgressTask, total: int, first: str) -> None:
        self.task, self.total, self.done = task, total, 0
        progress.start(task, total, first)

    def next(self, msg: str) -> None:
        self.done = min(self.done + 1, self.total)
        progress.update(self.task, self.done, self.total, msg)

    def note(self, msg: str) -> None:
        """Say what happens within the current step."""
        progress.update(self.task, self.done, self.total, msg)


def this_node(env: OsdEnv, node: str) -> None:
    if names.node_name(node) != env.node:
        raise InvalidArgument(f"This worker serves node {env.node}, not {node}")


def chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
            shutil.chown(name, user, user)

