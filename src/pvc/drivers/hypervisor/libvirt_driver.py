"""The node's libvirt, as the node daemon sees it (figures for now; VMs come later)."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import libvirt

from pvc.common.errors import BackendError

URI = "qemu:///system"


@dataclass(frozen=True)
class DomainFigures:
    uuid: str
    name: str
    memory_mib: int
    vcpus: int
    running: bool


class Hypervisor(Protocol):
    def domains(self) -> list[DomainFigures]: ...

    def ping(self) -> None: ...


def _quiet(ctx: Any, err: Any) -> None:
    """libvirt prints every error to stderr by default; we raise them instead."""


libvirt.registerErrorHandler(_quiet, None)


class Libvirt:
    def __init__(self, uri: str = URI) -> None:
        self.uri = uri
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()

    def _connect(self) -> libvirt.virConnect:
        if self._conn is not None:
            try:
                if self._conn.isAlive():
                    return self._conn
            except libvirt.libvirtError:
                pass
            self._conn = None
        try:
            self._conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise BackendError(f"Cannot connect to libvirt at {self.uri}: {exc}") from exc
        return self._conn

    def connection(self) -> libvirt.virConnect:
        """The shared connection (opened or reopened as needed)."""
        with self._lock:
            return self._connect()

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    def ping(self) -> None:
        with self._lock:
            conn = self._connect()
            try:
                conn.getLibVersion()
            except libvirt.libvirtError as exc:
                self._conn = None
                raise BackendError(f"libvirt at {self.uri} does not answer: {exc}") from exc

    def domains(self) -> list[DomainFigures]:
        with self._lock:
            conn = self._connect()
            try:
                out = []
                for dom in conn.listAllDomains():
                    state, max_kib, _, vcpus, _ = dom.info()
                    out.append(DomainFigures(
                        uuid=dom.UUIDString(),
                        name=dom.name(),
                        memory_mib=int(max_kib) // 1024,
                        vcpus=int(vcpus),
                        running=state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED,
                                          libvirt.VIR_DOMAIN_BLOCKED),
                    ))
                return out
            except libvirt.libvirtError as exc:
                self._conn = None
                raise BackendError(f"libvirt domain listing failed: {exc}") from exc
