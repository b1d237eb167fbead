"""One librados connection per process, and the mapping of Ceph failures onto PVC errors.

`CephConnection` opens its `rados.Rados` handle lazily, on the first call that needs it,
and shares it between threads (librados handles are thread-safe). A handle that failed
in a way that says the connection itself is bad (time-out, shut down, blocklisted) is
retired: the next call connects afresh, and the retired handle is shut down as soon as
the last call still using it returns.

`timeout` becomes `client_mount_timeout`, `rados_mon_op_timeout` and
`rados_osd_op_timeout`, so an unreachable cluster, a missing manager or a stuck OSD
yields a `BackendError` after about `timeout` seconds instead of blocking forever. The
OSD timeout only affects this handle; VMs reach their disks through QEMU's own librbd.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rados
import rbd

from pvc.common.errors import (
    AlreadyExists,
    BackendError,
    InvalidArgument,
    InvalidState,
    NotFound,
    NotYetKnown,
    PVCError,
)

# errnos after which a handle is not trusted any more (ESHUTDOWN is EBLOCKLISTED).
_FATAL_ERRNOS = frozenset({errno.ETIMEDOUT, errno.ESHUTDOWN, errno.ENOTCONN})
_INVALID_ERRNOS = frozenset({errno.EINVAL, errno.ERANGE, errno.EDOM, errno.EOPNOTSUPP})
_CEPH_ERRORS = (rados.Error, rbd.Error)


def _errno_of(exc: BaseException) -> int | None:
    value = getattr(exc, "errno", None)
    return abs(value) if isinstance(value, int) else None


def map_errno(code: int, op: str, detail: str, missing: str | None = None,
              existing: str | None = None) -> PVCError:
    """The PVC error for a failed Ceph call, given the (positive) errno it returned.

    `missing`/`existing` name the object that ENOENT/EEXIST refer to ("volume vms/disk0");
    without them those errnos are backend errors too.
    """
    detail = detail.strip()
    suffix = f": {detail}" if detail else ""
    if code == errno.ENOENT and missing:
        return NotFound(f"{missing} does not exist")
    if code == errno.EEXIST and existing:
        return AlreadyExists(f"{existing} already exists")
    if code in _INVALID_ERRNOS:
        return InvalidArgument(f"Ceph refused to {op}{suffix}")
    if code == errno.EBUSY:
        return InvalidState(f"cannot {op}: it is in use{suffix}")
    if code == errno.ETIMEDOUT:
        return BackendError(f"Ceph did not answer in time to {op}{suffix}")
    if code == errno.EAGAIN:
        return NotYetKnown(f"Ceph cannot yet {op}{suffix}")
    return BackendError(f"Ceph failed to {op} ({errno.errorcode.get(code, code)}){suffix}")


def map_exception(exc: BaseException, op: str, missing: str | None = None,
                  existing: str | None = None) -> PVCError:
    code = _errno_of(exc)
    if isinstance(exc, rbd.ImageNotFound | rbd.ObjectNotFound | rados.ObjectNotFound):
        code = errno.ENOENT
    elif isinstance(exc, rbd.ImageExists | rados.ObjectExists):
        code = errno.EEXIST
    elif isinstance(exc, rbd.InvalidArgument | rados.InvalidArgumentError):
        code = errno.EINVAL
    elif isinstance(exc, rbd.ImageBusy | rados.ObjectBusy):
        code = errno.EBUSY
    elif isinstance(exc, rados.TimedOut | rbd.Timeout):
        code = errno.ETIMEDOUT
    if code is None:
        return BackendError(f"Ceph failed to {op}: {exc}")
    return map_errno(code, op, str(exc), missing, existing)


@contextmanager
def ceph_errors(op: str, missing: str | None = None,
                existing: str | None = None) -> Iterator[None]:
    """Turn librados/librbd exceptions raised inside the block into PVC errors."""
    try:
        yield
    except PVCError:
        raise
    except _CEPH_ERRORS as exc:
        raise map_exception(exc, op, missing, existing) from exc


def _is_fatal(exc: BaseException) -> bool:
    if isinstance(exc, rados.ConnectionShutdown | rbd.ConnectionShutdown | rados.TimedOut
                  | rbd.Timeout | rados.RadosStateError):
        return True
    return _errno_of(exc) in _FATAL_ERRNOS


class _Handle:
    """A connected Rados object and how many calls are using it right now."""

    def __init__(self, cluster: rados.Rados) -> None:
        self.cluster = cluster
        self.users = 0
        self.retired = False


class CephConnection:
    def __init__(self, conf_path: Path, keyring_path: Path | None = None,
                 client_name: str = "admin", timeout: float = 30.0) -> None:
        if timeout <= 0:
            raise InvalidArgument("Ceph timeout must be positive")
        self.conf_path = Path(conf_path)
        self.keyring_path = Path(keyring_path) if keyring_path is not None else None
        self.client_name = client_name
        self.timeout = timeout
        self._lock = threading.Lock()
        self._handle: _Handle | None = None
        self._failure: tuple[float, str] | None = None  # (when, message) of the last connect

    # -- handle lifecycle ----------------------------------------------------
    def _options(self) -> dict[str, str]:
        seconds = str(max(1, round(self.timeout)))
        options = {
            "client_mount_timeout": seconds,
            "rados_mon_op_timeout": seconds,
            "rados_osd_op_timeout": seconds,
            # linked clones whose snapshot waits in the trash (see volume_clone)
            "rbd_default_clone_format": "2",
        }
        if self.keyring_path is not None:
            options["keyring"] = str(self.keyring_path)
        return options

    def _connect(self) -> rados.Rados:
        try:
            cluster = rados.Rados(conffile=str(self.conf_path), conf=self._options(),
                                  name=f"client.{self.client_name}")
        except _CEPH_ERRORS as exc:
            raise BackendError(f"cannot configure a Ceph client from {self.conf_path}: "
                               f"{exc}") from exc
        try:
            cluster.connect()
        except _CEPH_ERRORS as exc:
            cluster.shutdown()
            raise BackendError(f"cannot connect to Ceph ({self.conf_path}): {exc}") from exc
        return cluster

    def _acquire(self) -> _Handle:
        asked = time.monotonic()
        with self._lock:
            if self._handle is None:
                failure = self._failure
                if failure is not None and failure[0] > asked:
                    # Another thread's attempt failed while we waited for it: do not make
                    # every waiting caller sit through its own time-out in turn.
                    raise BackendError(failure[1])
                try:
                    self._handle = _Handle(self._connect())
                except BackendError as exc:
                    self._failure = (time.monotonic(), exc.message)
                    raise
            self._handle.users += 1
            return self._handle

    def _release(self, handle: _Handle, failed: bool) -> None:
        with self._lock:
            handle.users -= 1
            if failed and not handle.retired:
                handle.retired = True
                if self._handle is handle:
                    self._handle = None
            done = handle.retired and handle.users == 0
        if done:
            handle.cluster.shutdown()

    @contextmanager
    def cluster(self) -> Iterator[rados.Rados]:
        """The shared handle, for the duration of one call."""
        handle = self._acquire()
        failed = False
        try:
            yield handle.cluster
        except Exception as exc:
            cause = exc.__cause__
            failed = _is_fatal(exc) or (cause is not None and _is_fatal(cause))
            raise
        finally:
            self._release(handle, failed)

    @contextmanager
    def ioctx(self, pool: str, op: str) -> Iterator[rados.Ioctx]:
        """An I/O context on `pool`; NotFound names the pool when it does not exist.

        The handle's OSD map is brought up to date first (one small monitor round trip):
        librados resolves the pool name from its cached map, and a map from before a pool
        was deleted and made again under the same name sends I/O to the dead pool."""
        with self.cluster() as cluster:
            with ceph_errors(op, missing=f"pool {pool}"):
                cluster.wait_for_latest_osdmap()
                ioctx = cluster.open_ioctx(pool)
            try:
                yield ioctx
            finally:
                ioctx.close()

    def close(self) -> None:
        """Drop the handle; it is shut down once no call uses it any more."""
        with self._lock:
            handle, self._handle = self._handle, None
            if handle is None or handle.retired:
                return
            handle.retired = True
            done = handle.users == 0
        if done:
            handle.cluster.shutdown()

    # -- monitor and manager commands ------------------------------------------
    def command(self, cmd: dict[str, Any], op: str, *, mgr: bool = False,
                missing: str | None = None, existing: str | None = None,
                target: str | None = None) -> tuple[bytes, str]:
        """Run one JSON command on the monitors (or the active manager); return
        (output, status text). A negative return code becomes a PVC error."""
        payload = json.dumps(cmd)
        with self.cluster() as cluster, ceph_errors(op, missing, existing):
            if mgr:
                ret, out, outs = cluster.mgr_command(payload, b"")
            elif target is not None:
                ret, out, outs = cluster.mon_command(payload, b"", target=target)
            else:
                ret, out, outs = cluster.mon_command(payload, b"")
            if ret < 0 and -ret in _FATAL_ERRNOS:
                # Raised, so that cluster() retires the handle as for any time-out.
                raise rados.TimedOut(outs or "no answer", errno=-ret)
        if ret < 0:
            raise map_errno(-ret, op, outs, missing, existing)
        return out, outs

    def json(self, cmd: dict[str, Any], op: str, *, mgr: bool = False) -> Any:
        out, _ = self.command({**cmd, "format": "json"}, op, mgr=mgr)
        try:
            return json.loads(out)
        except ValueError as exc:
            raise BackendError(f"Ceph answered {op} with malformed JSON: {exc}") from exc

    def text(self, cmd: dict[str, Any], op: str, *, mgr: bool = False) -> str:
        out, _ = self.command({**cmd, "format": "plain"}, op, mgr=mgr)
        return out.decode("utf-8", errors="replace")
