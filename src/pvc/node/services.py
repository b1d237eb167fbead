"""Starting and stopping a node's daemons (e.g. the OSD `ceph-osd@3`), by instance name.

`ServiceControl` is what callers use (the OSD tasks of `pvc.tasks.storage.osd.add`); two backends:

* `SystemdServices`: `systemctl` on real nodes. `start` enables the instance (it comes
  back after a reboot) and starts it; `stop` disables and stops it.
* `DirectServices`: the process is spawned directly, detached from the caller (a short
  launcher spawns it in its own session and exits, so it is re-parented and never becomes
  our zombie), with its pid (and start time, against pid reuse) in `<run_dir>/<name>.pid`
  and its output in `<run_dir>/<name>.log`; `stop` sends SIGTERM to that pid, then
  SIGKILL after the timeout. Used by the integration tests and by the development
  cluster, whose nodes have no systemd of their own. A name maps to a command line
  through a resolver, e.g. `ceph_commands(conf)`.

Which one a node uses is `ceph.service_control` in pvc.conf (`systemd`, the default, or
`direct`); `from_config` builds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from pvc.common.config import Config
from pvc.common.errors import BackendError, InvalidArgument, PVCError

# "<daemon>@<instance>", e.g. ceph-osd@3, ceph-mon@hv1.
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}@[A-Za-z0-9_.-]{1,63}$")
SYSTEMCTL = "/bin/systemctl"
CEPH_DAEMONS = {"ceph-osd": "/usr/bin/ceph-osd", "ceph-mon": "/usr/bin/ceph-mon",
                "ceph-mgr": "/usr/bin/ceph-mgr"}
MODES = ("systemd", "direct")
STOP_TIMEOUT = 60.0
POLL = 0.05
# A spawned process that exits within this many seconds failed to start.
START_GRACE = 0.3

Resolver = Callable[[str], Sequence[str]]


class ServiceControl(Protocol):
    """Start, stop and query one daemon instance of this node."""

    # Whether the services run on when the node daemon stops: systemd's units do (they
    # belong to systemd, as VMs belong to libvirt), the dev cluster's direct processes
    # are the node's and go with its daemon.
    outlives_daemon: bool

    def start(self, name: str) -> None:
        """Run `name` (no-op if it runs); BackendError if it cannot be started."""

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        """Stop `name` and wait until it is gone (no-op if it does not run)."""

    def is_active(self, name: str) -> bool:
        """Whether `name` runs now."""

    def crashed(self, name: str) -> bool:
        """Whether `name` was started and has exited since without being stopped (a
        service manager that restarts crashed daemons itself answers False)."""


def service_name(name: str) -> str:
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name):
        raise InvalidArgument(f"Invalid service name {name!r}: use <daemon>@<instance>")
    return name


def osd_service(osd_id: int) -> str:
    """The service of an OSD: `ceph-osd@<id>`."""
    return service_name(f"ceph-osd@{int(osd_id)}")


# -- systemd -----------------------------------------------------------------------

class SystemdServices:
    outlives_daemon = True

    def __init__(self, systemctl: str = SYSTEMCTL, timeout: float = STOP_TIMEOUT) -> None:
        self.systemctl = systemctl
        self.timeout = timeout

    def _run(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([self.systemctl, *args], capture_output=True, text=True,
                                  timeout=timeout or self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"systemctl {' '.join(args)}: {exc}") from exc

    def _must(self, *args: str, timeout: float | None = None) -> None:
        res = self._run(*args, timeout=timeout)
        if res.returncode != 0:
            detail = (res.stderr or res.stdout).strip()
            raise BackendError(f"systemctl {' '.join(args)} failed ({res.returncode}): {detail}")

    def start(self, name: str) -> None:
        self._must("enable", "--now", service_name(name))

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        # `disable --now` returns once the unit has stopped (systemd's own stop timeout).
        self._must("disable", "--now", service_name(name), timeout=timeout + 10)

    def is_active(self, name: str) -> bool:
        return self._run("is-active", "--quiet", service_name(name)).returncode == 0

    def crashed(self, name: str) -> bool:
        return False  # the units' Restart= brings a crashed daemon back


# -- direct processes ---------------------------------------------------------------

# Spawns argv[3:] in a new session with its output appended to argv[2], writes
# "<pid> <start time>" to argv[1] and prints the pid; the launcher then exits, so the
# daemon is re-parented (to init or the nearest subreaper), which reaps it.
_LAUNCHER = r"""
import os, subprocess, sys
pidfile, logfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(logfile, "ab") as log:
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)
with open(f"/proc/{p.pid}/stat") as f:
    start = f.read().rsplit(")", 1)[1].split()[19]
tmp = pidfile + ".tmp"
with open(tmp, "w") as f:
    f.write(f"{p.pid} {start}\n")
os.replace(tmp, pidfile)
print(p.pid)
"""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], fields[19]


def _alive(pid: int, start: str) -> bool:
    """The process `pid` started at `start` runs (a zombie, or a reused pid, does not)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[1] == start


def ceph_commands(conf: Path) -> Resolver:
    """The resolver of Ceph daemons: `ceph-osd@3` -> `ceph-osd -f -c CONF --id 3` (as
    systemd's units run them, in the foreground, with data paths from CONF)."""

    def resolve(name: str) -> list[str]:
        daemon, instance = service_name(name).split("@", 1)
        binary = CEPH_DAEMONS.get(daemon)
        if binary is None:
            raise InvalidArgument(f"No command known for the service {name}")
        return [binary, "-f", "-c", str(conf), "--id", instance]

    return resolve


class DirectServices:
    outlives_daemon = False

    def __init__(self, run_dir: Path, resolve: Resolver) -> None:
        self.run_dir = Path(run_dir)
        self.resolve = resolve

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{service_name(name)}.pid"

    def log_file(self, name: str) -> Path:
        return self.run_dir / f"{service_name(name)}.log"

    def pid(self, name: str) -> int | None:
        """The pid of `name` if it runs."""
        try:
            pid_text, start = self.pid_file(name).read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        return pid if _alive(pid, start) else None

    def is_active(self, name: str) -> bool:
        return self.pid(name) is not None

    def crashed(self, name: str) -> bool:
        """Its pid file is there (a stop takes it away first) but its process is gone."""
        return self.pid_file(name).exists() and self.pid(name) is None

    def start(self, name: str) -> None:
        """Start `name` unless it runs. One starter at a time per service, across
        processes: the node daemon's OSD watcher and a worker's `osd add` can start the
        same new OSD at once (the primary adopts it as soon as it is placed), and the
        second daemon would fail on the first one's lock."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / f"{service_name(name)}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.is_active(name):
                self._launch(name)

    def _launch(self, name: str) -> None:
        argv = list(self.resolve(name))
        pid_file, log_file = self.pid_file(name), self.log_file(name)
        pid_file.unlink(missing_ok=True)
        try:
            res = subprocess.run([sys.executable, "-c", _LAUNCHER, str(pid_file),
                                  str(log_file), *argv], capture_output=True, text=True,
                                 timeout=30, check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"Cannot start {name}: {exc}") from exc
        if res.returncode != 0:
            raise BackendError(f"Cannot start {name} ({argv[0]}): "
                               f"{(res.stderr or res.stdout).strip()[-1000:]}")
        deadline = time.monotonic() + START_GRACE
        while time.monotonic() < deadline:
            if not self.is_active(name):
                raise BackendError(f"{name} exited at once: {self._log_tail(name)}")
            time.sleep(POLL)

    def _log_tail(self, name: str, size: int = 1000) -> str:
        try:
            text = self.log_file(name).read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return "(no output)"
        return text.strip() or "(no output)"

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        """The pid file is moved aside first, so that the daemon going away is no crash
        to anybody who looks meanwhile (`crashed`)."""
        pid_file = self.pid_file(name)
        stopping = pid_file.with_name(pid_file.name + ".stopping")
        try:
            os.replace(pid_file, stopping)
        except FileNotFoundError:
            return
        try:
            pid_text, start = stopping.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            stopping.unlink(missing_ok=True)
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            if not _alive(pid, start):
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while _alive(pid, start) and time.monotonic() < deadline:
                time.sleep(POLL)
        if _alive(pid, start):
            os.replace(stopping, pid_file)  # it still runs: it is still ours to stop
            raise BackendError(f"{name} (pid {pid}) did not stop, even on SIGKILL")
        stopping.unlink(missing_ok=True)


def from_config(config: Config) -> ServiceControl:
    """The node's service control as pvc.conf chooses it (`ceph.service_control`)."""
    mode = config.ceph_service_control
    if mode == "direct":
        return DirectServices(config.dynamic_directory / "services",
                              ceph_commands(config.ceph_config_file))
    if mode == "systemd":
        return SystemdServices()
    raise InvalidArgument(f"pvc.conf: ceph.service_control {mode!r}: use systemd or direct")


# -- command line ----------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pvc.node.services start|stop|kill|status NAME`: one service of this node
    through the service control its pvc.conf chooses (for `direct`, what `systemctl` is to
    systemd). Prints the state as JSON."""
    import argparse
    import json

    from pvc.common import config as pvcconfig

    parser = argparse.ArgumentParser(prog="python -m pvc.node.services")
    parser.add_argument("--config", default=None, help="pvc.conf (default: the usual one)")
    parser.add_argument("action", choices=["start", "stop", "kill", "status"])
    parser.add_argument("name", help="<daemon>@<instance>, e.g. ceph-osd@2")
    args = parser.parse_args(argv)
    try:
        name = service_name(args.name)
        services = from_config(pvcconfig.load(args.config or pvcconfig.config_path()))
        if args.action == "start":
            services.start(name)
        elif args.action == "stop":
            services.stop(name)
        elif args.action == "kill":
            if isinstance(services, DirectServices):
                pid = services.pid(name)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
            else:
                SystemdServices()._must("kill", "--signal=KILL", name)
        pid = services.pid(name) if isinstance(services, DirectServices) else None
        print(json.dumps({"service": name, "running": services.is_active(name), "pid": pid}))
        return 0
    except PVCError as exc:
        print(f"{parser.prog}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
