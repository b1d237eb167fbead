"""Booting and stopping the targets: networks, cgroups and systemd-nspawn.

Per target: a network namespace with one veth per core network into the host bridges;
an own cgroup in both hierarchies (without it, `--keep-unit` puts every container in one
cgroup and one container's systemd kills another's services); a private mount namespace
with a tmpfs on /run/systemd/nspawn; then `systemd-nspawn -b` on its root. Everything is
found again by name and pid, so `down` clears what an interrupted run left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from pvc.common.errors import BackendError
from pvc.devcluster import procs
from pvc.devcluster.network import ensure_bridge, ip, link_exists, netns_list
from pvc.devcluster.targets.layout import DEVICES, NETWORKS, TargetSpec

CGROUPS = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))
BOOT_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0  # a throwaway target: its systemd gets this long, then it is killed


def create_bridges(spec: TargetSpec) -> None:
    for net in NETWORKS:
        ensure_bridge(spec.bridge(net), str(spec.host_address(net)))


def delete_bridges(spec: TargetSpec) -> None:
    for net in NETWORKS:
        if link_exists(spec.bridge(net)):
            ip("link", "del", spec.bridge(net))


def create_net(spec: TargetSpec, host: str) -> None:
    ns = spec.netns(host)
    if ns not in netns_list():
        ip("netns", "add", ns)
    for net in NETWORKS:
        outside = spec.host_veth(host, net)
        if not link_exists(outside):
            ip("link", "add", outside, "type", "veth", "peer", "name", DEVICES[net],
               "netns", ns)
        ip("link", "set", outside, "master", spec.bridge(net), "up")


def delete_net(spec: TargetSpec, host: str) -> None:
    if spec.netns(host) in netns_list():
        ip("netns", "del", spec.netns(host))  # its veth ends go with it
    for net in NETWORKS:
        if link_exists(spec.host_veth(host, net)):
            ip("link", "del", spec.host_veth(host, net))


def _cgroups(spec: TargetSpec, host: str) -> list[Path]:
    return [tree / "pvc-targets" / spec.machine(host) for tree in CGROUPS]


def _pid_file(spec: TargetSpec, host: str) -> Path:
    return spec.machine_dir(host) / "nspawn.pid"


def _leader(spec: TargetSpec, host: str) -> int | None:
    """The pid of the target's systemd-nspawn (or of the shell that becomes it), while it
    runs: a live process in the target's own cgroup."""
    try:
        pid = int(_pid_file(spec, host).read_text())
        cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    except (OSError, ValueError):
        return None
    ours = f"/pvc-targets/{spec.machine(host)}"
    return pid if procs.state(pid) not in (None, "Z") and ours in cgroups else None


def boot(spec: TargetSpec, host: str) -> None:
    if _leader(spec, host) is not None:
        return
    groups = _cgroups(spec, host)
    for group in groups:
        group.mkdir(parents=True, exist_ok=True)
    # nspawn keeps its state in /run/systemd/nspawn: a private tmpfs there (over all of
    # /run/systemd, which on a host without systemd may lack it) leaves nothing behind
    nspawn = ("mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd && "
              "mkdir /run/systemd/nspawn && exec systemd-nspawn -b "
              f"-D {spec.rootfs(host)} -M {spec.machine(host)} "
              f"--network-namespace-path=/run/netns/{spec.netns(host)} --register=no "
              "--keep-unit --console=read-only --capability=CAP_NET_ADMIN "
              # the machine's own files, as on a server: Ansible writes them
              "--resolv-conf=off --timezone=off")

    def join_cgroups() -> None:  # in the child, before it runs anything: no race with _leader
        for group in groups:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    with open(spec.machine_dir(host) / "console.log", "ab") as log:
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                 nspawn], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=join_cgroups)
    _pid_file(spec, host).write_text(str(proc.pid))


def wait_ssh(spec: TargetSpec, host: str, timeout: float = BOOT_TIMEOUT) -> None:
    """Until `deploy` can log in over SSH and run a command as root."""
    address = str(spec.address(host, "upstream").ip)
    deadline = time.monotonic() + timeout
    while True:
        if _leader(spec, host) is None:
            raise BackendError(f"Target {host} stopped while booting; see "
                               f"{spec.machine_dir(host) / 'console.log'}")
        try:
            socket.create_connection((address, 22), timeout=1).close()
            done = subprocess.run(ssh_command(spec, host, "sudo", "true"), capture_output=True,
                                  timeout=20, check=False, stdin=subprocess.DEVNULL)
            if done.returncode == 0:
                _open_net_sysctls(spec, host)
                return
        except (OSError, subprocess.TimeoutExpired):
            pass
        if time.monotonic() > deadline:
            raise BackendError(f"Target {host} did not answer on SSH at {address} within "
                               f"{timeout:.0f} s")
        time.sleep(1)


def _open_net_sysctls(spec: TargetSpec, host: str) -> None:
    """Let the target set its network's kernel settings, as a server does (the node
    daemon sets per-bridge ones; the base role forwarding). nspawn mounts /proc/sys
    read-only and opens /proc/sys/net only in a network namespace it makes itself; these
    targets join one made beforehand. So /proc/sys/net is bound writable in the target's
    mount namespace: procfs shows each reader its own network namespace, so what the
    target writes there changes its namespace only, never this host's."""
    leader = _leader(spec, host)
    children = Path(f"/proc/{leader}/task/{leader}/children")
    try:
        init = int(children.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        raise BackendError(f"Target {host} has no init process to open /proc/sys/net "
                           "in") from None
    procs.run(["nsenter", "-t", str(init), "-m", "sh", "-c",
               "mountpoint -q /proc/sys/net || mount --bind /proc/sys/net /proc/sys/net; "
               "mount -o remount,bind,rw /proc/sys/net"],
              f"make /proc/sys/net of target {host} writable", timeout=30)


def ssh_command(spec: TargetSpec, host: str, *command: str) -> list[str]:
    return ["ssh", "-i", str(spec.ssh_key), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
            f"deploy@{spec.address(host, 'upstream').ip}", *command]


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if procs.state(pid) in (None, "Z"):
            return True
        time.sleep(0.2)
    return False


def stop(spec: TargetSpec, hosts: list[str]) -> None:
    """Power the targets off together (SIGTERM makes systemd-nspawn shut its systemd down;
    one still up after STOP_TIMEOUT is killed), then anything left in their cgroups is
    killed and the cgroups removed."""
    leaders = [pid for pid in (_leader(spec, host) for host in hosts) if pid is not None]
    for pid in leaders:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for pid in leaders:
        if not _wait_gone(pid, max(0.0, deadline - time.monotonic())):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
    for host in hosts:
        _pid_file(spec, host).unlink(missing_ok=True)
        for group in _cgroups(spec, host):
            _empty_cgroup(group)


def _empty_cgroup(group: Path) -> None:
    if not group.exists():
        return
    for _ in range(50):
        inner = sorted((p for p in group.rglob("*") if p.is_dir()),
                       key=lambda p: len(p.parts), reverse=True)
        pids = [int(x) for g in (*inner, group)
                for x in _read(g / "cgroup.procs").split()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if not pids:
            for g in (*inner, group):
                with contextlib.suppress(OSError):
                    g.rmdir()
            if not group.exists():
                return
        time.sleep(0.2)
    raise BackendError(f"Cannot clear cgroup {group}")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
