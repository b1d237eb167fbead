"""The cluster from outside: pvc-dev, each node's libvirt, the API and the pvc CLI."""

from __future__ import annotations

import os
import subprocess
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import libvirt

from bench.fault_campaign.settings import VENV_BIN
from pvc.client.connections import add_connection
from pvc.common.errors import BackendError
from pvc.devcluster.layout import ClusterSpec
from pvc.devcluster.node import power


def run(cmd: list[str], check: bool = True, timeout: float = 120,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        if check:
            raise BackendError(f"{' '.join(cmd)} timed out after {timeout:.0f} s") from exc
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout:.0f} s")
    if check and res.returncode != 0:
        raise BackendError(f"{' '.join(cmd)} failed ({res.returncode}): "
                           f"{res.stderr.strip()}{res.stdout.strip()}")
    return res


def dev(spec: ClusterSpec, *args: str, check: bool = True) -> str:
    """`pvc-dev ARGS` on the campaign's cluster."""
    return run([str(VENV_BIN / "pvc-dev"), args[0], "--name", spec.name, *args[1:]],
               check=check).stdout


def domains_on(spec: ClusterSpec, node: str) -> set[str] | None:
    """UUIDs of the domains the node's libvirt runs (executing, not paused), asked inside
    the node (its libvirt listens on the cluster network, which may be cut); None when the
    node is off or its libvirtd does not answer."""
    pid = power.init_pid(spec, node)
    if pid is None:
        return None
    try:
        res = subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "--",
                              "virsh", "-q", "-c", "qemu:///system", "list", "--uuid",
                              "--state-running"],
                             capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return None
    if res.returncode != 0:
        return None
    return {line.strip() for line in res.stdout.splitlines() if line.strip()}


def _libvirt_event_loop() -> None:
    """libvirt's default event loop in a daemon thread, so that every connection sends
    keepalives and one whose libvirtd is gone fails within seconds instead of hanging."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are handled
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, name="libvirt-events", daemon=True).start()


class NodeLibvirt:
    """One node's libvirt, asked which domains run, through its unix socket seen from the
    host (`/proc/<node init>/root/run/libvirt/libvirt-sock`): no process per question, so
    the sampler can ask often. The connection is dropped on any error and made again (a
    restarted libvirtd, a node powered off and on); if it cannot be made, `virsh` inside
    the node answers instead."""

    def __init__(self, spec: ClusterSpec, node: str) -> None:
        self.spec = spec
        self.node = node
        self.conn: Any = None
        self.pid: int | None = None
        self.lock = threading.Lock()

    def _drop(self) -> None:
        if self.conn is not None:
            with suppress(libvirt.libvirtError):
                self.conn.close()
        self.conn = None

    def running(self) -> set[str] | None:
        with self.lock:
            pid = power.init_pid(self.spec, self.node)
            if pid is None:
                self._drop()
                return None
            if self.conn is None or pid != self.pid:
                self._drop()
                self.pid = pid
                sock = f"/proc/{pid}/root/run/libvirt/libvirt-sock"
                try:
                    self.conn = libvirt.open(f"qemu+unix:///system?socket={sock}")
                    self.conn.setKeepAlive(2, 3)
                except libvirt.libvirtError:
                    self._drop()
                    return domains_on(self.spec, self.node)
            try:
                doms = self.conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING)
                return {str(d.UUIDString()) for d in doms}
            except libvirt.libvirtError:
                self._drop()
                return domains_on(self.spec, self.node)


class Api:
    def __init__(self, spec: ClusterSpec) -> None:
        self.client = httpx.Client(base_url=spec.api_url(), timeout=30,
                                   headers={"X-Api-Key": spec.api_key})

    def vms(self) -> list[dict[str, Any]] | None:
        """Every VM record (None when the API does not answer right now)."""
        try:
            r = self.client.get("/vm")
        except httpx.HTTPError:
            return None
        return list(r.json()) if r.status_code == 200 else None

    def post(self, path: str, **params: str) -> httpx.Response:
        return self.client.post(path, params=params)

    def close(self) -> None:
        self.client.close()


class Cli:
    """The `pvc` CLI with a connection of its own (not the user's config)."""

    def __init__(self, spec: ClusterSpec, client_dir: Path) -> None:
        add_connection(spec.name, str(spec.floating_address("upstream")), port=7370,
                       api_key=spec.api_key, path=client_dir / "pvc.json")
        self.env = {**os.environ, "PVC_CLIENT_DIR": str(client_dir),
                    "PVC_CONNECTION": spec.name}

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run([str(VENV_BIN / "pvc"), *args], check=False, timeout=timeout, env=self.env)
