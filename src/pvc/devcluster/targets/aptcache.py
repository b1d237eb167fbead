"""The targets' package mirror: Debian's apt-cacher-ng on the host side of their bridge.

It listens only on the host's address on the targets' upstream bridge and keeps its
cache in pvc-dev's download cache, so every package is downloaded once, for all targets
and for the next run. Started and stopped by its pid.
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
from pvc.devcluster.targets.layout import APT_CACHE_PORT, TargetSpec

BINARY = "/usr/sbin/apt-cacher-ng"
START_TIMEOUT = 15.0


def _pid_file(spec: TargetSpec) -> Path:
    return spec.state_dir / "apt-cacher-ng.pid"


def _running(spec: TargetSpec) -> int | None:
    try:
        pid = int(_pid_file(spec).read_text())
    except (OSError, ValueError):
        return None
    return pid if procs.cmdline(pid)[:1] == [BINARY] else None  # a zombie has none


def start(spec: TargetSpec) -> None:
    if _running(spec) is not None:
        return
    cache = spec.cache_dir / "apt-cacher-ng"
    logs = spec.state_dir / "apt-cacher-ng-log"
    for where in (cache, logs):
        where.mkdir(parents=True, exist_ok=True)
    address = str(spec.host_address("upstream").ip)
    # Our own configuration: no remapping to Debian's mirror list (those mirrors cannot be
    # reached from here), so a request for deb.debian.org/... goes to deb.debian.org
    conf = spec.state_dir / "apt-cacher-ng.conf.d"
    conf.mkdir(exist_ok=True)
    (conf / "acng.conf").write_text("\n".join([
        f"CacheDir: {cache}", f"LogDir: {logs}", "SupportDir: /usr/lib/apt-cacher-ng",
        f"Port: {APT_CACHE_PORT}", f"BindAddress: {address}",
        f"SocketPath: {spec.state_dir / 'apt-cacher-ng.socket'}",
        f"PidFile: {spec.state_dir / 'apt-cacher-ng.acng-pid'}",
        "ForeGround: 1", "ReportPage: acng-report.html", "ExThreshold: 4",
    ]) + "\n")
    argv = [BINARY, "-c", str(conf)]
    with open(logs / "stdout.log", "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _pid_file(spec).write_text(str(proc.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise BackendError(f"apt-cacher-ng exited at once ({proc.returncode}); see {logs}")
        try:
            socket.create_connection((address, APT_CACHE_PORT), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                stop(spec)
                raise BackendError(f"apt-cacher-ng did not listen on {address}:"
                                   f"{APT_CACHE_PORT} within {START_TIMEOUT:.0f} s") from None
            time.sleep(0.2)


def stop(spec: TargetSpec) -> None:
    pid = _running(spec)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            with contextlib.suppress(ChildProcessError):  # reaped, if this process started it
                os.waitpid(pid, os.WNOHANG)
            if _running(spec) is None:  # gone, or a zombie (no command line)
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    _pid_file(spec).unlink(missing_ok=True)
