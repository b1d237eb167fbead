"""`pvc.node.services`: the direct backend with real processes (`sleep`, a Python that
ignores SIGTERM), stopped by their pid; name checks; the choice from pvc.conf."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pvc.common import config as pvcconfig
from pvc.common.errors import BackendError, InvalidArgument
from pvc.node import services
from pvc.node.services import DirectServices, SystemdServices

STUBBORN = ("import signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ignoring SIGTERM', flush=True)\n"
            "time.sleep(60)\n")
EXCLUSIVE = ("import fcntl, sys, time\n"
             "lock = open(sys.argv[1], 'rb')\n"
             "fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "time.sleep(60)\n")
COMMANDS = {
    "sleep": ["/bin/sleep", "60"],
    "stubborn": [sys.executable, "-c", STUBBORN],
    "broken": ["/bin/sh", "-c", "echo cannot start >&2; exit 3"],
    # like ceph-osd: a second instance fails at once on the first one's lock (taken by the
    # one process, so stopping it by its pid leaves nothing holding the lock)
    "exclusive": [sys.executable, "-c", EXCLUSIVE, __file__],
}


def make_config(**sections: dict[str, str]) -> pvcconfig.Config:
    raw = yaml.safe_load(pvcconfig.SAMPLE_FILE.read_text())
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return pvcconfig.parse(raw)


def resolve(name: str) -> list[str]:
    return COMMANDS[services.service_name(name).split("@")[0]]


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[DirectServices]:
    control = DirectServices(tmp_path / "run", resolve)
    try:
        yield control
    finally:  # whatever a failed test left running: by the pids it recorded
        for name in ("sleep@1", "sleep@2", "stubborn@1", "exclusive@1"):
            control.stop(name, timeout=1)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_start_runs_the_process_detached_and_stop_ends_it(direct: DirectServices) -> None:
    assert not direct.is_active("sleep@1")
    direct.start("sleep@1")
    pid = direct.pid("sleep@1")
    assert pid is not None and alive(pid)
    assert direct.is_active("sleep@1")
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"/bin/sleep", b"60"]
    # detached: its own session, and not a child of this process
    assert os.getsid(pid) == pid
    assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] != str(os.getpid())
    direct.start("sleep@1")  # running already: nothing new
    assert direct.pid("sleep@1") == pid
    direct.stop("sleep@1")
    assert not alive(pid)
    assert not direct.is_active("sleep@1")
    assert not direct.pid_file("sleep@1").exists()
    direct.stop("sleep@1")  # stopped already: nothing to do


def test_starters_at_once_start_the_service_once(direct: DirectServices) -> None:
    """The node daemon's OSD watcher and a worker's `osd add` may start one OSD at the
    same moment: one daemon runs, and no starter sees it fail."""
    errors: list[BackendError] = []

    def start() -> None:
        try:
            direct.start("exclusive@1")
        except BackendError as exc:
            errors.append(exc)

    starters = [threading.Thread(target=start) for _ in range(4)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    assert errors == []
    pid = direct.pid("exclusive@1")
    assert pid is not None and alive(pid)


def test_instances_are_separate(direct: DirectServices) -> None:
    direct.start("sleep@1")
    direct.start("sleep@2")
    one, two = direct.pid("sleep@1"), direct.pid("sleep@2")
    assert one and two and one != two
    direct.stop("sleep@1")
    assert direct.is_active("sleep@2") and not direct.is_active("sleep@1")
    direct.stop("sleep@2")
    assert two is not None and not alive(two)


def test_a_process_ignoring_sigterm_is_killed_after_the_timeout(
        direct: DirectServices) -> None:
    direct.start("stubborn@1")
    pid = direct.pid("stubborn@1")
    assert pid is not None
    deadline = time.monotonic() + 10
    while "ignoring" not in direct.log_file("stubborn@1").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    began = time.monotonic()
    direct.stop("stubborn@1", timeout=0.5)
    assert 0.5 <= time.monotonic() - began < 10
    assert not alive(pid)


def test_a_process_that_exits_at_once_fails_to_start(direct: DirectServices) -> None:
    with pytest.raises(BackendError, match="exited at once: cannot start"):
        direct.start("broken@1")
    assert not direct.is_active("broken@1")


def test_a_stale_pid_file_is_not_a_running_service(direct: DirectServices) -> None:
    direct.run_dir.mkdir(parents=True)
    # this process's own pid, but another start time: a reused pid, not the service
    direct.pid_file("sleep@1").write_text(f"{os.getpid()} 1\n")
    assert not direct.is_active("sleep@1")
    direct.pid_file("sleep@1").write_text("garbage\n")
    assert not direct.is_active("sleep@1")
    direct.stop("sleep@1")  # nothing is signalled; the stale file goes
    assert not direct.pid_file("sleep@1").exists()


@pytest.mark.parametrize("name", ["ceph-osd", "ceph-osd@", "@3", "ceph-osd@3;rm", "x@a b",
                                  "../x@1", "Ceph@1"])
def test_bad_service_names_are_refused(direct: DirectServices, name: str) -> None:
    with pytest.raises(InvalidArgument):
        direct.start(name)
    with pytest.raises(InvalidArgument):
        SystemdServices().is_active(name)


def test_ceph_commands_and_osd_service_names() -> None:
    resolve_ceph = services.ceph_commands(Path("/etc/ceph/ceph.conf"))
    assert resolve_ceph("ceph-osd@12") == ["/usr/bin/ceph-osd", "-f", "-c",
                                           "/etc/ceph/ceph.conf", "--id", "12"]
    assert services.osd_service(3) == "ceph-osd@3"
    with pytest.raises(InvalidArgument):
        resolve_ceph("sshd@1")


def test_service_control_from_config(tmp_path: Path) -> None:
    assert isinstance(services.from_config(make_config()), SystemdServices)
    config = make_config(ceph={"service_control": "direct"},
                         path={"dynamic_directory": str(tmp_path)})
    direct = services.from_config(config)
    assert isinstance(direct, DirectServices)
    assert direct.run_dir == tmp_path / "services"
    with pytest.raises(InvalidArgument, match="service_control"):
        make_config(ceph={"service_control": "runit"})
