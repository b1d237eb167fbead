"""The OSD tasks `osd.add` and `osd.remove`, run by the worker of the OSD's node.

An OSD here is a BlueStore store on one whole device (a block device, or a plain file,
which is what the development cluster and the tests use): its data directory (Ceph's
`osd_data`, by default /var/lib/ceph/osd/ceph-<id>) holds the keyring and a `block`
symlink to the device, and the daemon `ceph-osd@<id>` runs through the node's
`ServiceControl` (`pvc.node.services`).

`osd.add(node, device, weight)`: check the device (`pvc.tasks.storage.osd.device`); `osd new`
for an id; the data directory and the key
(`auth get-or-create`); `ceph-osd --mkfs` on the device; the CRUSH location
host=<node> with the weight (kept by the daemon's own start-ups through its
`crush_location` option); start the daemon; wait until it is up and in; record it in
ZooKeeper. A failure undoes what was done (daemon, id, key, CRUSH item, directory,
the label on the device). External DB devices and split OSDs (`osd_count` > 1) are
refused as not supported.

`osd.remove(osd, force)`: mark it out; wait until the managers say it is safe to
destroy (skipped with force); stop the daemon; purge it (id, key, CRUSH item); remove
its data directory and wipe the BlueStore label of its device; delete its record.
While the OSD still runs, a failure marks it in again.

Ceph is driven through librados monitor/manager commands; only `ceph-osd --mkfs` and
`ceph-osd --show-config-value` are processes. The request checks that need no access to
the node (`check_add_request`, `check_remove_request`) are shared with the API.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import pwd
import shutil
import subprocess
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pvc.common import names
from pvc.common.config import Config
from pvc.common.errors import (
    AlreadyExists,
    BackendError,
    Conflict,
    InvalidArgument,
    InvalidState,
    NotFound,
    PVCError,
)
from pvc.node.services import ServiceControl, osd_service
from pvc.node.services import from_config as services_from_config
from pvc.node.storage.publisher import osd_stats
from pvc.state.store import Store
from pvc.tasks import catalogue, progress
from pvc.tasks.progress import ProgressTask
from pvc.tasks.registry import register
from pvc.tasks.storage.osd.device import check_device, check_device_path, wipe_label

if TYPE_CHECKING:  # librados is imported only where a task runs
    from pvc.drivers.storage.ceph_conn import CephConnection

CEPH_OSD = "/usr/bin/ceph-osd"
CEPH_USER = "ceph"
CONFIRM = "yes"
MAX_WEIGHT = 10000.0
# Seconds: a new OSD up and in; a stopped OSD down; data off an OSD that is out.
UP_TIMEOUT = 180.0
DOWN_TIMEOUT = 60.0
SAFE_TIMEOUT = 4 * 3600.0
POLL = 0.5
MKFS_TIMEOUT = 600.0
OSD_CAPS = ["mon", "allow profile osd", "mgr", "allow profile osd", "osd", "allow *"]


# -- request checks (API and worker) --------------------------------------------------

def check_weight(weight: Any) -> float:
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Invalid OSD weight {weight!r}: use a number") from None
    if isinstance(weight, bool) or not math.isfinite(value) or not 0 <= value <= MAX_WEIGHT:
        raise InvalidArgument(f"Invalid OSD weight {weight!r}: use a number from 0 to "
                              f"{MAX_WEIGHT:g}")
    return value


def check_add_options(ext_db_ratio: Any = None, ext_db_size: Any = None,
                      osd_count: Any = None) -> None:
    """Refuse what this implementation does not do: external DB devices, split OSDs."""
    if ext_db_ratio not in (None, "") or ext_db_size not in (None, ""):
        raise InvalidArgument("External OSD database devices (ext_db_ratio, ext_db_size) "
                              "are not supported: the OSD keeps its database on its device")
    if osd_count not in (None, "", 1, "1"):
        raise InvalidArgument(f"Split OSDs (osd_count={osd_count}) are not supported: "
                              "one OSD per device")


def recorded_device(store: Store, node: str, device: str) -> str | None:
    """The id of an OSD that the cluster state records on `device` of `node`, if any."""
    ids = store.children("root.ceph.osds")
    records = store.read_many([("osd", {"osd": i}) for i in ids])
    for osd, record in zip(ids, records, strict=True):
        if (isinstance(record, dict) and record.get("node") == node
                and record.get("device") == device):
            return osd
    return None


def check_add_request(store: Store, node: str, device: str, weight: Any,
                      ext_db_ratio: Any = None, ext_db_size: Any = None,
                      osd_count: Any = None) -> tuple[str, str, float]:
    """(node, device, weight) of a valid `osd.add` request, checked against the state."""
    node = names.node_name(node)
    device = check_device_path(device)
    weight = check_weight(weight)
    check_add_options(ext_db_ratio, ext_db_size, osd_count)
    if not store.exists("node", node=node):
        raise NotFound(f"Node {node} not found")
    known = recorded_device(store, node, device)
    if known is not None:
        raise AlreadyExists(f"Device {device} of node {node} is already OSD {known}")
    return node, device, weight


def check_remove_request(store: Store, osd: str | int, confirm: str | None) -> tuple[str, str]:
    """(osd id, its node) of a valid `osd.remove` request."""
    osd = names.osd_id(osd)
    record = store.read("osd", default=None, osd=osd)
    if record is None:
        raise NotFound(f"OSD {osd} not found")
    if confirm != CONFIRM:
        raise InvalidArgument(f"Removing OSD {osd} destroys its data; confirm with "
                              "yes-i-really-mean-it=yes")
    node = record.get("node") if isinstance(record, dict) else None
    if not node:
        raise InvalidState(f"OSD {osd} has no node recorded, so no worker can remove it")
    return osd, str(node)


# -- Ceph ------------------------------------------------------------------------------

class OsdCeph:
    """The monitor and manager commands of the OSD tasks."""

    def __init__(self, conn: CephConnection, conf: Path) -> None:
        self.conn = conn
        self.conf = conf

    def _json(self, cmd: dict[str, Any], op: str, mgr: bool = False) -> Any:
        out, _ = self.conn.command({**cmd, "format": "json"}, op, mgr=mgr)
        try:
            return json.loads(out) if out.strip() else None
        except ValueError as exc:
            raise BackendError(f"Ceph answered {op} with malformed JSON: {exc}") from exc

    def new_osd(self, osd_uuid: str) -> int:
        out = self._json({"prefix": "osd new", "uuid": osd_uuid}, "allocate an OSD id")
        return int(out["osdid"]) if isinstance(out, dict) else int(out)

    def osd_key(self, osd: int) -> str:
        out = self._json({"prefix": "auth get-or-create", "entity": f"osd.{osd}",
                          "caps": OSD_CAPS}, f"create the key of OSD {osd}")
        try:
            return str(out[0]["key"])
        except (TypeError, KeyError, IndexError) as exc:
            raise BackendError(f"Ceph gave no key for OSD {osd}: {out!r}") from exc

    def place(self, osd: int, weight: float, host: str) -> None:
        """CRUSH item under host=<host> with `weight`, and the same location for the
        daemon's own start-ups (`crush_location`)."""
        location = f"root=default host={host}"
        self.conn.command({"prefix": "osd crush add", "id": osd, "weight": weight,
                           "args": location.split()}, f"place OSD {osd} in the CRUSH map")
        self.conn.command({"prefix": "config set", "who": f"osd.{osd}",
                           "name": "crush_location", "value": location},
                          f"set the CRUSH location of OSD {osd}")

    def forget_settings(self, osd: int) -> None:
        self.conn.command({"prefix": "config rm", "who": f"osd.{osd}",
                           "name": "crush_location"}, f"clear the settings of OSD {osd}")

    def states(self) -> dict[int, tuple[bool, bool]]:
        """OSD id -> (up, in) for every OSD that exists."""
        dump = self._json({"prefix": "osd dump"}, "read the OSD map")
        return {int(o["osd"]): (bool(o["up"]), bool(o["in"])) for o in dump.get("osds", [])}

    def mark(self, osd: int, verb: str) -> None:
        self.conn.command({"prefix": f"osd {verb}", "ids": [str(osd)]},
                          f"mark OSD {osd} {verb}")

    def safe_to_destroy(self, osd: int) -> tuple[bool, str]:
        """Whether the managers say the OSD can go, and what keeps it if not."""
        out = self._json({"prefix": "osd safe-to-destroy", "ids": [str(osd)]},
                         f"ask whether OSD {osd} is safe to destroy", mgr=True) or {}
        if osd in out.get("safe_to_destroy", []):
            return True, ""
        reasons = [what for key, what in (("active", "it still serves PGs"),
                                          ("stored_pgs", "it still stores PGs"),
                                          ("missing_stats", "no statistics yet"))
                   if osd in out.get(key, [])]
        return False, "; ".join(reasons) or "not all PGs are active+clean"

    def purge(self, osd: int) -> None:
        self.conn.command({"prefix": "osd purge", "id": osd, "yes_i_really_mean_it": True},
                          f"purge OSD {osd}", mgr=True)

    def data_dir(self, osd: int) -> Path:
        """The OSD's data directory as ceph.conf sets it (`osd_data`)."""
        try:
            res = subprocess.run([CEPH_OSD, "--show-config-value", "osd_data", "-c",
                                  str(self.conf), "--id", str(osd)], capture_output=True,
                                 text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"Cannot read the data directory of OSD {osd}: {exc}") from exc
        text = res.stdout.strip()
        if res.returncode != 0 or not text.startswith("/"):
            raise BackendError(f"Cannot read the data directory of OSD {osd}: "
                               f"{(res.stderr or res.stdout).strip()[-500:]}")
        return Path(text)

    def mkfs(self, osd: int, osd_uuid: str, data_dir: Path, device: Path) -> None:
        cmd = [CEPH_OSD, "--mkfs", "-c", str(self.conf), "--id", str(osd),
               "--osd-uuid", osd_uuid, "--osd-data", str(data_dir),
               "--keyring", str(data_dir / "keyring"), "--osd-objectstore", "bluestore",
               "--bluestore-block-path", str(device)]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=MKFS_TIMEOUT,
                                 check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"ceph-osd --mkfs of OSD {osd}: {exc}") from exc
        if res.returncode != 0:
            raise BackendError(f"ceph-osd --mkfs of OSD {osd} failed ({res.returncode}): "
                               f"{(res.stderr or res.stdout).strip()[-1500:]}")

    def wait(self, what: str, check: Callable[[], bool], timeout: float,
             tick: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise BackendError(f"Timed out after {timeout:.0f} s waiting for {what}")
            if tick is not None:
                tick()
            time.sleep(POLL)


# -- what a task works with -------------------------------------------------------------

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


def _this_node(env: OsdEnv, node: str) -> None:
    if names.node_name(node) != env.node:
        raise InvalidArgument(f"This worker serves node {env.node}, not {node}")


def _chown(path: Path, user: str | None) -> None:
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
            shutil.chown(name, user, user)


# -- osd.add ---------------------------------------------------------------------------

ADD_STEPS = 8


def add_osd(env: OsdEnv, steps: Steps, device: str, weight: float) -> int:
    """Make, start and record an OSD on `device` of this node; its id."""
    path = check_device(device, env.node)
    if recorded_device(env.store, env.node, device) is not None:
        raise AlreadyExists(f"Device {device} of node {env.node} is already an OSD")
    osd_uuid = str(uuidlib.uuid4())
    undo: list[tuple[str, Callable[[], None]]] = []
    try:
        steps.next(f"Allocating an OSD id for {device}")
        osd = env.ceph.new_osd(osd_uuid)
        undo.append(("purge the OSD id", lambda: _purge_stopped(env, osd)))
        steps.next(f"Creating the data directory and key of OSD {osd}")
        data_dir = env.ceph.data_dir(osd)
        if data_dir.exists() and any(data_dir.iterdir()):
            raise InvalidState(f"The data directory {data_dir} of OSD {osd} is not empty")
        data_dir.mkdir(parents=True, exist_ok=True)
        undo.append(("remove the data directory", lambda: shutil.rmtree(data_dir)))
        key = env.ceph.osd_key(osd)
        keyring = data_dir / "keyring"
        keyring.touch(mode=0o600)
        keyring.write_text(f"[osd.{osd}]\n\tkey = {key}\n")
        steps.next(f"Creating the BlueStore of OSD {osd} on {device}")
        undo.append(("wipe the device's label", lambda: wipe_label(path)))
        env.ceph.mkfs(osd, osd_uuid, data_dir, path)
        _chown(data_dir, env.ceph_user)
        if env.ceph_user is not None:
            shutil.chown(path, env.ceph_user, env.ceph_user)
        steps.next(f"Placing OSD {osd} under host {env.node} with weight {weight:g}")
        undo.append(("clear the OSD's settings", lambda: env.ceph.forget_settings(osd)))
        env.ceph.place(osd, weight, env.node)
        steps.next(f"Starting OSD {osd}")
        service = osd_service(osd)
        undo.append(("stop the daemon", lambda: env.services.stop(service)))
        env.services.start(service)
        steps.next(f"Waiting for OSD {osd} to come up")
        env.ceph.wait(f"OSD {osd} to come up", lambda: _came_up(env, osd, service),
                      UP_TIMEOUT)
        if not env.ceph.states().get(osd, (False, False))[1]:
            env.ceph.mark(osd, "in")
        env.ceph.wait(f"OSD {osd} to be in",
                      lambda: env.ceph.states().get(osd, (False, False)) == (True, True),
                      UP_TIMEOUT)
        steps.next(f"Recording OSD {osd} in the cluster state")
        record_osd(env, osd, osd_uuid, device)
    except BaseException as exc:
        failures = []
        for what, action in reversed(undo):
            try:
                action()
            except (PVCError, OSError) as undo_exc:
                failures.append(f"could not {what}: {undo_exc}")
        if failures and isinstance(exc, PVCError):
            raise type(exc)(f"{exc.message} (and undoing it: {'; '.join(failures)})") from exc
        raise
    return osd


def _came_up(env: OsdEnv, osd: int, service: str) -> bool:
    if env.ceph.states().get(osd, (False, False))[0]:
        return True
    if not env.services.is_active(service):
        raise BackendError(f"OSD {osd} stopped while starting ({service} is not running)")
    return False


def _purge_stopped(env: OsdEnv, osd: int) -> None:
    """Purge an OSD whose daemon is stopped (Ceph purges only an OSD that is down)."""
    env.ceph.mark(osd, "down")
    env.ceph.wait(f"OSD {osd} to be down",
                  lambda: not env.ceph.states().get(osd, (False, False))[0], DOWN_TIMEOUT)
    env.ceph.purge(osd)


def first_stats(env: OsdEnv, osd: int, osd_uuid: str) -> dict[str, Any]:
    """The OSD's figures as the primary publishes them (until it does)."""
    if env.figures is not None:
        with contextlib.suppress(PVCError):
            for fig in env.figures():
                if fig.get("id") == osd:
                    return {**osd_stats(fig), "node": env.node}
    return {**osd_stats({"id": osd, "up": 1, "in": 1, "uuid": osd_uuid}), "node": env.node}


def record_osd(env: OsdEnv, osd: int, osd_uuid: str, device: str) -> None:
    """The OSD's record and first figures (the primary's publisher may have adopted the
    new OSD already: then its record is completed)."""
    record = {"node": env.node, "device": device, "db_device": "", "is_split": False,
              "uuid": osd_uuid}
    stats = first_stats(env, osd, osd_uuid)
    key = str(osd)
    for _ in range(5):
        txn = env.store.txn()
        if env.store.exists("osd", osd=key):
            txn.set("osd", record, osd=key)
        else:
            txn.create("osd", record, osd=key)
        if not env.store.exists("osd.stats", osd=key):
            txn.create("osd.stats", stats, osd=key)
        try:
            txn.commit()
            return
        except (AlreadyExists, NotFound):
            continue  # the publisher wrote in between: look again
    raise BackendError(f"Could not record OSD {osd}: its record kept changing")


@register(catalogue.OSD_ADD)
def osd_add(task: ProgressTask, node: str, device: str, weight: float = 1.0,
            ext_db_ratio: Any = None, ext_db_size: Any = None,
            osd_count: Any = None) -> dict[str, Any]:
    """Add an OSD on `device` of `node` (this worker's node)."""
    steps = Steps(task, ADD_STEPS, f"Checking device {device}")
    check_device_path(device)
    weight = check_weight(weight)
    check_add_options(ext_db_ratio, ext_db_size, osd_count)
    with worker_env() as env, env.locked(steps):
        _this_node(env, node)
        osd = add_osd(env, steps, device, weight)
    return progress.finish(task, f"Added OSD {osd} on {device} of node {node}")


# -- osd.remove --------------------------------------------------------------------------

REMOVE_STEPS = 7


def remove_osd(env: OsdEnv, steps: Steps, osd_text: str, force: bool) -> None:
    osd = int(names.osd_id(osd_text))
    record = env.store.read("osd", default=None, osd=str(osd))
    if record is None and not force:
        raise NotFound(f"OSD {osd} not found")
    owner = record.get("node") if isinstance(record, dict) else None
    if owner and owner != env.node:
        raise InvalidState(f"OSD {osd} is on node {owner}, not {env.node}")
    exists = osd in env.ceph.states()
    if not exists and not force:
        raise NotFound(f"OSD {osd} does not exist in the Ceph cluster (use force to remove "
                       "its record)")
    service = osd_service(osd)
    data_dir = env.ceph.data_dir(osd)
    device = _block_target(data_dir)
    if device is not None and not device.exists() and not force:
        raise InvalidState(f"The device {device} of OSD {osd} is gone (use force to remove "
                           "the OSD anyway)")
    with contextlib.ExitStack() as stack:
        _remove(env, steps, osd, exists, force, stack, service)
        _remove_files(env, steps, osd, force, data_dir, device)


def _remove(env: OsdEnv, steps: Steps, osd: int, exists: bool, force: bool,
            stack: contextlib.ExitStack, service: str) -> None:
    """Out, safe to destroy, stopped (under the node's OSD lock from then on), purged."""
    if exists:
        steps.next(f"Marking OSD {osd} out")
        env.ceph.mark(osd, "out")
        try:
            steps.next(f"Waiting until OSD {osd} is safe to destroy")
            if not force:
                _wait_safe(env, steps, osd)
            steps.next(f"Stopping OSD {osd}")
            stack.enter_context(env.locked(steps))
            env.services.stop(service)
        except BaseException:
            with contextlib.suppress(PVCError):
                env.ceph.mark(osd, "in")
            raise
        env.ceph.mark(osd, "down")
        env.ceph.wait(f"OSD {osd} to be down",
                      lambda: not env.ceph.states().get(osd, (False, False))[0], DOWN_TIMEOUT)
        steps.next(f"Purging OSD {osd} from the Ceph cluster")
        env.ceph.purge(osd)
    else:
        steps.done = 3
        steps.next(f"Stopping OSD {osd} (it is not in the Ceph cluster)")
        stack.enter_context(env.locked(steps))
        env.services.stop(service)
        steps.next(f"OSD {osd} is not in the Ceph cluster: nothing to purge")


def _remove_files(env: OsdEnv, steps: Steps, osd: int, force: bool, data_dir: Path,
                  device: Path | None) -> None:
    """The settings, data directory, device label and record of a purged OSD."""
    with contextlib.suppress(PVCError):
        env.ceph.forget_settings(osd)
    steps.next(f"Removing the data of OSD {osd}")
    if data_dir.exists():
        shutil.rmtree(data_dir)
    if device is not None:
        with contextlib.suppress(FileNotFoundError):  # gone: only with force (see above)
            wipe_label(device)
    steps.next(f"Removing OSD {osd} from the cluster state")
    forget_osd(env.store, osd)


def forget_osd(store: Store, osd: int) -> None:
    """Delete the OSD's record (gone already is fine: the publisher drops records of OSDs
    that Ceph no longer has)."""
    for _ in range(5):
        if not store.exists("osd", osd=str(osd)):
            return
        try:
            store.txn().delete_tree(store.path("osd", osd=str(osd))).commit()
            return
        except (NotFound, Conflict):
            continue  # the publisher wrote in between: look again
    raise BackendError(f"Could not delete the record of OSD {osd}: it kept changing")


def _block_target(data_dir: Path) -> Path | None:
    """The device an OSD's `block` symlink names."""
    try:
        return Path(os.path.realpath(data_dir / "block", strict=True))
    except OSError:
        link = data_dir / "block"
        return Path(os.readlink(link)) if link.is_symlink() else None


def _wait_safe(env: OsdEnv, steps: Steps, osd: int) -> None:
    last = [""]

    def safe() -> bool:
        ok, why = env.ceph.safe_to_destroy(osd)
        if not ok and why != last[0]:
            steps.note(f"Waiting until OSD {osd} is safe to destroy: {why}")
            last[0] = why
        return ok

    env.ceph.wait(f"OSD {osd} to be safe to destroy", safe, SAFE_TIMEOUT)


@register(catalogue.OSD_REMOVE)
def osd_remove(task: ProgressTask, osd: str, force: bool = False) -> dict[str, Any]:
    """Remove OSD `osd` of this worker's node."""
    steps = Steps(task, REMOVE_STEPS, f"Checking OSD {osd}")
    with worker_env() as env:
        remove_osd(env, steps, str(osd), bool(force))
    return progress.finish(task, f"Removed OSD {osd}")
