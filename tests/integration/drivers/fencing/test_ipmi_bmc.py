"""The IPMI fencing driver against a real ipmi_sim BMC from pvc.devcluster.node.bmc.

Every test starts its own ipmi_sim on 127.0.0.1 and a free UDP port. The "node" is a state
file that a small power script turns on and off; the BMC must run that script for
``chassis power on/off`` and report its truth for ``chassis power status``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pvc.common.errors import BackendError, InvalidArgument
from pvc.devcluster.node import bmc
from pvc.drivers.fencing.ipmi import IPMITOOL, IpmiTool, PowerControl

pytestmark = pytest.mark.skipif(
    not (os.access(bmc.IPMI_SIM, os.X_OK) and os.access(IPMITOOL, os.X_OK)),
    reason="ipmi_sim (openipmi) or ipmitool is not installed",
)

USER = "fence"
PASSWORD = "N0de-s3cret"
INTERFACES = ["lanplus", "lan"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Bmc:
    spec: bmc.BmcSpec
    pid: int
    state: Path
    calls: Path

    def node(self) -> str:
        return self.state.read_text().strip()

    def actions(self) -> list[str]:
        return self.calls.read_text().split() if self.calls.exists() else []

    def wait_node(self, want: str, timeout: float = 5.0) -> None:
        """A power on is acknowledged at once and carried out in the background."""
        deadline = time.monotonic() + timeout
        while self.node() != want:
            assert time.monotonic() < deadline, f"node still {self.node()}, not {want}"
            time.sleep(0.02)

    def client(self, interface: str = "lanplus", password: str = PASSWORD) -> IpmiTool:
        return IpmiTool("127.0.0.1", USER, password, self.spec.port, interface)


def power_script(tmp_path: Path, state: Path, calls: Path) -> Path:
    script = tmp_path / "power.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = status ] || echo "$1" >> \'{calls}\'\n'
        'case "$1" in\n'
        f"    on|off) echo \"$1\" > '{state}' ;;\n"
        f"    status) cat '{state}' ;;\n"
        '    *) echo "bad action $1" >&2; exit 2 ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return script


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Bmc]:
    state = tmp_path / "node-state"
    state.write_text("on\n")
    calls = tmp_path / "calls"
    spec = bmc.BmcSpec(
        node="hv1",
        address="127.0.0.1",
        port=free_udp_port(),
        username=USER,
        password=PASSWORD,
        workdir=tmp_path / "bmc",
        power_command=[str(power_script(tmp_path, state, calls))],
    )
    pid = bmc.start(spec)
    try:
        yield Bmc(spec, pid, state, calls)
    finally:
        bmc.stop(pid)
    assert process_gone(pid)


def test_start_writes_config_and_runs_detached(sim: Bmc) -> None:
    workdir = sim.spec.workdir
    for name in (bmc.LAN_CONF, bmc.EMU_CMD, bmc.HOOK):
        assert (workdir / name).is_file()
    assert os.access(workdir / bmc.HOOK, os.X_OK)
    assert Path(f"/proc/{sim.pid}/comm").read_text().strip() == "ipmi_sim"
    assert os.getsid(sim.pid) == sim.pid  # its own session, no console
    assert f"addr 127.0.0.1 {sim.spec.port}" in (workdir / bmc.LAN_CONF).read_text()


@pytest.mark.parametrize("interface", INTERFACES)
def test_status_reports_the_truth(sim: Bmc, interface: str) -> None:
    client = sim.client(interface)
    assert isinstance(client, PowerControl)
    assert client.power_status() == "on"
    sim.state.write_text("off\n")
    assert client.power_status() == "off"
    sim.state.write_text("on\n")
    assert client.power_status() == "on"
    assert sim.actions() == []  # status never powers anything


@pytest.mark.parametrize("interface", INTERFACES)
def test_power_off_and_on(sim: Bmc, interface: str) -> None:
    client = sim.client(interface)
    began = time.monotonic()
    client.power_off()
    assert time.monotonic() - began < 1.0
    assert sim.node() == "off"
    began = time.monotonic()
    assert client.power_status() == "off"  # the BMC keeps answering with the node down
    assert time.monotonic() - began < 1.0
    began = time.monotonic()
    client.power_on()
    assert time.monotonic() - began < 1.0
    sim.wait_node("on")
    assert client.power_status() == "on"
    assert sim.actions() == ["off", "on"]


def test_repeated_requests_act_once(sim: Bmc) -> None:
    client = sim.client()
    client.power_on()
    assert sim.actions() == []
    client.power_off()
    client.power_off()
    assert sim.actions() == ["off"]
    assert sim.node() == "off"


def test_plain_ipmitool_command_line(sim: Bmc) -> None:
    """What an operator would type (password in the environment, cipher suite 3)."""
    argv = [IPMITOOL, "-I", "lanplus", "-C", "3", "-H", "127.0.0.1"]
    argv += ["-p", str(sim.spec.port), "-U", USER, "-E", "chassis", "power"]
    env = {"IPMI_PASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([*argv, "off"], env=env, capture_output=True, text=True, check=True)
    assert "Down/Off" in out.stdout
    out = subprocess.run([*argv, "status"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Chassis Power is off"
    subprocess.run([*argv, "reset"], env=env, capture_output=True, check=True)
    sim.wait_node("on")
    assert sim.actions() == ["off", "on"]


@pytest.mark.parametrize("interface", INTERFACES)
def test_wrong_password_fails(sim: Bmc, interface: str) -> None:
    with pytest.raises(BackendError, match="Unable to establish"):
        sim.client(interface, password="wrong-password").power_off()
    assert sim.node() == "on"
    assert sim.actions() == []


@pytest.mark.parametrize("interface", INTERFACES)
def test_unreachable_bmc_fails_fast(interface: str) -> None:
    client = IpmiTool("127.0.0.1", USER, PASSWORD, free_udp_port(), interface)
    began = time.monotonic()
    with pytest.raises(BackendError, match=r"127\.0\.0\.1:\d+.*failed"):
        client.power_status()
    assert time.monotonic() - began < 5.0


@pytest.mark.parametrize(
    ("host", "username", "password"),
    [
        ("-oProxyCommand=x", USER, PASSWORD),
        ("bmc host", USER, PASSWORD),
        ("bmc;reboot", USER, PASSWORD),
        ("10.0.0.256", USER, PASSWORD),
        ("", USER, PASSWORD),
        ("127.0.0.1", "-U", PASSWORD),
        ("127.0.0.1", "bad user", PASSWORD),
        ("127.0.0.1", "x" * 17, PASSWORD),
        ("127.0.0.1", "", PASSWORD),
        ("127.0.0.1", USER, ""),
        ("127.0.0.1", USER, "with space"),
        ("127.0.0.1", USER, "p" * 21),
    ],
)
def test_invalid_arguments_rejected_before_running(
    monkeypatch: pytest.MonkeyPatch, host: str, username: str, password: str
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("ipmitool must not run for invalid arguments")

    monkeypatch.setattr(subprocess, "run", forbidden)
    with pytest.raises(InvalidArgument):
        IpmiTool(host, username, password).power_off()


def test_invalid_interface_and_port() -> None:
    with pytest.raises(InvalidArgument):
        IpmiTool("127.0.0.1", USER, PASSWORD, interface="open")
    with pytest.raises(InvalidArgument):
        IpmiTool("127.0.0.1", USER, PASSWORD, port=0)
    with pytest.raises(InvalidArgument):
        IpmiTool("127.0.0.1", USER, "p" * 17, interface="lan")


def test_password_not_on_command_line() -> None:
    argv = IpmiTool("bmc-hv1.example.net", USER, PASSWORD).argv("chassis", "power", "status")
    assert PASSWORD not in argv
    assert argv[:3] == [IPMITOOL, "-I", "lanplus"]
    assert "-E" in argv


def test_start_fails_when_power_command_is_broken(tmp_path: Path) -> None:
    spec = bmc.BmcSpec(
        node="hv2",
        address="127.0.0.1",
        port=free_udp_port(),
        username=USER,
        password=PASSWORD,
        workdir=tmp_path / "bmc",
        power_command=["/bin/false"],
    )
    with pytest.raises(BackendError, match="does not answer") as info:
        bmc.start(spec)
    assert "power status failed" in info.value.message  # the log tail is included
    assert not bmc._udp_bound("127.0.0.1", spec.port)  # and the simulator was stopped
