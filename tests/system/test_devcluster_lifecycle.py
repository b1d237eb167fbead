"""pvc-dev itself: `up` builds a working cluster and is safe to repeat, `up` after a crash
cleans up first, and `down` leaves no process, namespace, link, mount or file behind."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from pvc.devcluster import demo
from pvc.devcluster import network as netsetup
from pvc.devcluster.layout import ClusterSpec, default_root
from pvc.devcluster.node import power
from tests.system.conftest import VENV_BIN

pytestmark = pytest.mark.system
NAME, PREFIX, SUBNET = "pvclife", "pl", 76


def pvc_dev(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "pvc-dev"), *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def our_processes(state_dir: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(state_dir) in cmd:
            found.append(f"{entry.name}: {cmd[:120]}")
    return found


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    if os.geteuid() != 0:
        pytest.skip("system tests need root: run `sudo ./pvc-dev test`")
    return {**os.environ, "PVC_CLIENT_DIR": str(tmp_path)}


def test_up_twice_then_crash_then_down_leaves_nothing(env: dict[str, str]) -> None:
    args = ["--nodes", "2", "--coordinators", "1", "--name", NAME, "--prefix", PREFIX,
            "--subnet", str(SUBNET)]
    try:
        check_lifecycle(args, env)
    finally:
        pvc_dev("down", "--name", NAME, env=env)


def check_lifecycle(args: list[str], env: dict[str, str]) -> None:
    first = pvc_dev("up", *args, env=env)
    assert first.returncode == 0, first.stderr
    spec = ClusterSpec.load(NAME)
    store = Path(env["PVC_CLIENT_DIR"]) / "pvc.json"
    entry = json.loads(store.read_text())[NAME]
    assert entry["host"] == "10.76.0.250" and entry["api_key"] == spec.api_key
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    listed = subprocess.run([str(VENV_BIN / "pvc"), "-c", NAME, "node", "list", "-f", "raw"],
                            capture_output=True, text=True, env=env, check=False)
    assert listed.returncode == 0 and listed.stdout.split() == ["hv1", "hv2"], listed.stderr
    nodes = json.loads(subprocess.run(
        [str(VENV_BIN / "pvc"), "-q", "-c", NAME, "node", "list", "-f", "json"],
        capture_output=True, text=True, env=env, check=True).stdout)
    roles = {n["name"]: n["coordinator_state"] for n in nodes}
    assert roles == {"hv1": "primary", "hv2": "client"}  # hv2 is a plain hypervisor

    pids = {n: power.init_pid(spec, n) for n in spec.node_names}
    second = pvc_dev("up", *args, env=env)
    assert second.returncode == 0 and "already up" in second.stderr
    assert {n: power.init_pid(spec, n) for n in spec.node_names} == pids
    check_up_after_the_marker_scrolled_away(spec)

    # a crash: one node's processes vanish without pvc-dev knowing; up rebuilds cleanly
    power.off(spec, "hv2")
    third = pvc_dev("up", *args, env=env)
    assert third.returncode == 0, third.stderr
    assert "Cleaning up" in third.stderr
    spec = ClusterSpec.load(NAME)
    assert all(power.init_pid(spec, n) for n in spec.node_names)

    gone = pvc_dev("down", "--name", NAME, env=env)
    assert gone.returncode == 0, gone.stderr
    assert not netsetup.leftovers(spec)
    assert not [ns for ns in netsetup.netns_list() if ns.startswith(PREFIX + "-")]
    assert not our_processes(spec.state_dir)
    assert not (default_root() / NAME).exists()
    mounts = Path("/proc/mounts").read_text()
    assert str(spec.state_dir) not in mounts
    assert NAME not in json.loads(store.read_text())


def check_up_after_the_marker_scrolled_away(spec: ClusterSpec) -> None:
    """`up` on a cluster whose demo VM has run for a while: its boot marker is no longer
    among the console lines `up` reads (5 lines here stand for `up`'s 50, a minute of
    counting), yet the running guest is recognised by its counter."""
    lines = 5
    with httpx.Client(base_url=spec.api_url(), headers={"X-Api-Key": spec.api_key},
                      timeout=30) as api:
        deadline = time.monotonic() + 60
        while True:
            console = api.get(f"/vm/{demo.DEMO}/console", params={"lines": lines}).json()["data"]
            if demo.BOOT_MARKER not in console and demo.COUNTER in console:
                break
            assert time.monotonic() < deadline, f"the demo's console never moved on: {console}"
            time.sleep(0.5)
    said: list[str] = []
    demo.ensure(spec, said.append, timeout=30, console_lines=lines)
    assert said == ["The demo VM is running"]
