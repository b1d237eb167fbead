"""The one exception tree of PVC.

Every failure that crosses a module boundary is one of these. The API maps them to HTTP
status codes in one place (`pvc.api.errors`) and the CLI maps them to exit codes in one
place (`pvc.cli.output`). Never return (ok, message) pairs.
"""

from __future__ import annotations


class PVCError(Exception):
    """Base of every PVC error. `message` is shown to operators as it is."""

    http_status = 500
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(PVCError):
    http_status = 404
    exit_code = 2


class AlreadyExists(PVCError):
    http_status = 409
    exit_code = 3


class InvalidState(PVCError):
    """The object exists but is not in a state that allows the request."""

    http_status = 409
    exit_code = 4


class InvalidArgument(PVCError):
    """The request itself is malformed: a bad name, value, or combination."""

    http_status = 400
    exit_code = 5


class Conflict(PVCError):
    """Someone else changed the data between our read and our write."""

    http_status = 409
    exit_code = 6


class BackendError(PVCError):
    """A real component (ZooKeeper, libvirt, Ceph, ip, ipmitool) failed."""

    http_status = 502
    exit_code = 7


class Unauthorized(PVCError):
    http_status = 401
    exit_code = 8


class Unavailable(PVCError):
    """The thing asked for cannot be reached right now (no primary, API down)."""

    http_status = 503
    exit_code = 9


class StateUnreachable(BackendError):
    """The cluster state (ZooKeeper) cannot be asked right now: the session is suspended or
    lost, or the client is stopping (as while the primary moves). A BackendError to code
    that handles those; 503 to API clients, who may try again shortly."""

    http_status = 503
    exit_code = 9


class NotYetKnown(BackendError):
    """A component answered that it cannot tell yet (Ceph's EAGAIN, as while PGs are still
    peering); asking again a little later may give an answer."""
