"""PID 1 of a development node, inside the node's network, mount, UTS and PID namespaces.

It gives the node its own /run, libvirt state, /etc/pvc and /etc/hosts (bind mounts of
the node's directory), its hostname, and then runs and supervises the node's services
(ZooKeeper, Redis, Ceph mon and mgr on coordinators, an OSD, virtlogd, libvirtd,
pvcnoded, pvcworkerd) like a tiny init system.
Infrastructure services restart after a failure; pvcnoded does not, so that a crashed
node daemon is visible to the cluster. A unix socket in the node directory takes JSON
commands: status, start, stop, kill, shutdown, and reload (start the services that have
come to exist since boot, e.g. an OSD registered after the mons formed their quorum).

Killing this process (power off) kills every process of the node at once: the kernel
ends a PID namespace with its first process.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvc.devcluster import configs, frr, patroni
from pvc.devcluster.ceph import cluster as cephdev
from pvc.devcluster.layout import ClusterSpec, load_spec


@dataclass
class Service:
    name: str
    command: list[str]
    restart: bool
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    last_exit: int | None = None
    wanted: bool = True
    restarts: int = 0


def mount(*args: str) -> None:
    subprocess.run(["/usr/bin/mount", *args], check=True, capture_output=True)


def setup_namespaces(spec: ClusterSpec, node: str) -> None:
    base = spec.node_dir(node)
    mount("-t", "tmpfs", "-o", "mode=755,size=256m", "tmpfs", "/run")
    for sub in ("lock", "pvc", "user", "ceph"):
        Path("/run", sub).mkdir(exist_ok=True)
    for target, rel in configs.PRIVATE_DIRS.items():
        Path(target).mkdir(parents=True, exist_ok=True)
        (base / rel).mkdir(parents=True, exist_ok=True)  # a node made by an older pvc-dev
        mount("--bind", str(base / rel), target)
    configs.worker_tmp(spec, node).mkdir(parents=True, exist_ok=True)
    if node in spec.coordinator_names:
        configs.write_redis(spec, node)  # a node made by an older pvc-dev
    for target, rel in configs.PRIVATE_FILES.items():
        mount("--bind", str(base / rel), target)
    if frr.available():
        frr.prepare_run_dir()
        tmp = base / "var/tmp/frr"
        os.chown(tmp, pwd.getpwnam(frr.USER).pw_uid, grp.getgrnam(frr.USER).gr_gid)
    socket.sethostname(node)


def services_for(spec: ClusterSpec, node: str) -> list[Service]:
    out = []
    if node in spec.coordinator_names:
        zk = configs.zk_server(spec, node)
        out.append(Service("zookeeper", zk.command(), restart=True))
        out.append(Service("redis", configs.redis_command(spec, node), restart=True))
        out.append(Service("sentinel", configs.sentinel_command(spec, node), restart=True))
        if patroni.available():  # PostgreSQL of the provisioner
            out.append(Service("patroni", patroni.command(spec, node), restart=True,
                               env=patroni.env(spec, node)))
    out += [Service(name, cmd, restart=True) for name, cmd in cephdev.services(spec, node)]
    if frr.available():  # BGP EVPN for the VXLANs of managed networks
        out += [Service(name, cmd, restart=True) for name, cmd in frr.commands(spec, node)]
    out.append(Service("virtlogd", ["/usr/sbin/virtlogd"], restart=True))
    out.append(Service("libvirtd", ["/usr/sbin/libvirtd", "--listen"], restart=True))
    out.append(Service("pvcnoded", [sys.executable, "-m", "pvc.node.main"], restart=False))
    # the task worker restarts like any infrastructure service (systemd does so on nodes)
    # its own temporary directory: a worker killed with its node (power-off, `pvc-dev down`)
    # leaves its pool's temporary files there, removed with the node, not in the host's /tmp
    out.append(Service("pvcworkerd", [sys.executable, "-m", "pvc.worker.main", "--node", node],
                       restart=True, env={"TMPDIR": str(configs.worker_tmp(spec, node))}))
    return out


class Init:
    def __init__(self, spec: ClusterSpec, node: str) -> None:
        self.spec = spec
        self.node = node
        self.services = {s.name: s for s in services_for(spec, node)}
        self.lock = threading.Lock()
        self.log_dir = Path("/var/log/pvc")
        self.shutting_down = False

    def spawn(self, svc: Service) -> None:
        """Start a service; a failure to start is the service's, never this init's."""
        svc.wanted = True
        with open(self.log_dir / f"{svc.name}.log", "ab") as log:
            env = {**os.environ, "HOME": "/root", **svc.env}
            try:
                proc = subprocess.Popen(svc.command, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
            except OSError as exc:
                log.write(f"nodeinit: cannot start {svc.name}: {exc}\n".encode())
                svc.last_exit = 127
                return
        svc.pid = proc.pid

    def start(self, name: str) -> None:
        with self.lock:
            svc = self.services[name]
            if svc.pid is None:
                self.spawn(svc)
            svc.wanted = True

    def signal(self, name: str, signum: int, unwanted: bool) -> int | None:
        with self.lock:
            svc = self.services[name]
            if unwanted:
                svc.wanted = False
            pid = svc.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        return pid

    def stop(self, name: str, timeout: float = 30.0) -> None:
        pid = self.signal(name, signal.SIGTERM, unwanted=True)
        deadline = time.monotonic() + timeout
        while pid is not None and self.services[name].pid == pid:
            if time.monotonic() > deadline:
                self.signal(name, signal.SIGKILL, unwanted=True)
                deadline += 5
            time.sleep(0.05)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            with self.lock:
                for svc in self.services.values():
                    if svc.pid == pid:
                        svc.pid = None
                        svc.last_exit = os.waitstatus_to_exitcode(status)
                        if svc.wanted and svc.restart and not self.shutting_down:
                            threading.Timer(1.0, self._restart, (svc.name,)).start()

    def _restart(self, name: str) -> None:
        with self.lock:
            svc = self.services[name]
            if svc.pid is None and svc.wanted and not self.shutting_down:
                svc.restarts += 1
                self.spawn(svc)

    def reload(self) -> list[str]:
        """Add and start the services that now exist but are not supervised yet (an OSD
        the cluster has just registered); returns their names."""
        added = []
        for svc in services_for(self.spec, self.node):
            with self.lock:
                if svc.name in self.services or self.shutting_down:
                    continue
                self.services[svc.name] = svc
                self.spawn(svc)
            added.append(svc.name)
        return added

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {
                name: {"pid": s.pid, "running": s.pid is not None, "last_exit": s.last_exit,
                       "restarts": s.restarts, "wanted": s.wanted}
                for name, s in self.services.items()
            }

    def shutdown(self) -> None:
        self.shutting_down = True
        for name in reversed(list(self.services)):
            self.stop(name, timeout=20 if name == "pvcnoded" else 10)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        name = str(request.get("service", ""))
        if cmd == "status":
            return {"ok": True, "services": self.status()}
        if cmd == "reload":
            return {"ok": True, "added": self.reload(), "services": self.status()}
        if cmd == "shutdown":
            threading.Thread(target=self._shutdown_and_exit, daemon=True).start()
            return {"ok": True}
        if name not in self.services:
            return {"ok": False, "error": f"unknown service {name!r}"}
        if cmd == "start":
            self.start(name)
        elif cmd == "stop":
            self.stop(name)
        elif cmd == "kill":
            signum = int(request.get("signal", signal.SIGKILL))
            return {"ok": True, "pid": self.signal(name, signum, unwanted=True)}
        else:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        return {"ok": True, "services": self.status()}

    def _shutdown_and_exit(self) -> None:
        self.shutdown()
        os._exit(0)

    def serve_control(self) -> None:
        path = self.spec.control_socket(self.node)
        path.unlink(missing_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(path))
        os.chmod(path, 0o600)
        srv.listen(8)
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as fh:
            try:
                request = json.loads(fh.readline() or b"{}")
                reply = self.handle(request)
            except Exception as exc:
                reply = {"ok": False, "error": repr(exc)}
            fh.write(json.dumps(reply).encode() + b"\n")
            fh.flush()


def main(argv: list[str] | None = None) -> int:
    state_dir, node = (sys.argv[1:] if argv is None else argv)[:2]
    spec = load_spec(Path(state_dir))
    setup_namespaces(spec, node)
    init = Init(spec, node)
    wake = threading.Event()
    signal.signal(signal.SIGCHLD, lambda s, f: wake.set())
    signal.signal(signal.SIGTERM, lambda s, f: threading.Thread(
        target=init._shutdown_and_exit, daemon=True).start())
    threading.Thread(target=init.serve_control, daemon=True).start()
    for name in init.services:
        init.start(name)
    while True:
        wake.wait(1.0)
        wake.clear()
        init.reap()


if __name__ == "__main__":
    sys.exit(main())
