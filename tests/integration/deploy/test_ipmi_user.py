"""The base role's fencing user on a server's BMC (roles/base/tasks/ipmi.yml), run by
Ansible against a real IPMI BMC: OpenIPMI's ipmi_sim on loopback, reached over the LAN
with the BMC's administrator (a server's own BMC is reached in-band, which needs
/dev/ipmi0 and so real hardware). The user is made, can then power-query the BMC itself,
a second run changes nothing, and a new name is put in the same slot."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pvc.devcluster.node import bmc
from pvc.drivers.fencing.ipmi import IPMITOOL

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    not (os.access(bmc.IPMI_SIM, os.X_OK) and os.access(IPMITOOL, os.X_OK)),
    reason="ipmi_sim (openipmi) or ipmitool is not installed")]

KIT = Path(__file__).resolve().parents[3] / "deploy" / "ansible"
ADMIN, ADMIN_PASSWORD = "admin", "Adm1n-pw"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    work = tmp_path_factory.mktemp("bmc")
    power = work / "power"
    power.write_text("#!/bin/sh\n[ \"$1\" = status ] && echo on\nexit 0\n")
    power.chmod(0o755)
    number = free_udp_port()
    pid = bmc.start(bmc.BmcSpec(node="hv1", address="127.0.0.1", port=number, username=ADMIN,
                                password=ADMIN_PASSWORD, workdir=work / "sim",
                                power_command=[str(power)]))
    try:
        yield number
    finally:
        bmc.stop(pid)


def lan(port: int, user: str = ADMIN, password: str = ADMIN_PASSWORD) -> list[str]:
    return ["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", str(port), "-U", user,
            "-P", password]


def provision(where: Path, port: int, user: str, password: str) -> dict[str, Any]:
    """Run the role's BMC tasks as the base role does; PLAY RECAP's counts."""
    play = [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(KIT / "group_vars/default/base.yml")],
        "tasks": [{"ansible.builtin.include_tasks": str(KIT / "roles/base/tasks/ipmi.yml"),
                   "vars": {"base_ipmitool": "{{ ['ipmitool'] + ipmi_ipmitool_args }}",
                            "base_ipmi_size": "16"}}],
    }]
    (where / "play.yml").write_text(yaml.safe_dump(play))
    extra = {"pvc_node": {"ipmi_user": user, "ipmi_password": password},
             "ipmi_provision_user": True, "ipmi_ipmitool_args": lan(port)}
    done = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(where / "play.yml"), "-e",
         json.dumps(extra)], capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1", "HOME": str(where),
             "ANSIBLE_LOCAL_TEMP": str(where / ".tmp")})
    assert done.returncode == 0, done.stdout[-3000:]
    found = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)", done.stdout)
    assert found is not None, done.stdout[-2000:]
    return {"ok": int(found.group(1)), "changed": int(found.group(2))}


def power_status(port: int, user: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IPMITOOL, *lan(port, user, password), "chassis", "power", "status"],
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture(autouse=True)
def needs_ansible() -> None:
    if shutil.which("ansible-playbook") is None:
        pytest.skip("ansible-playbook is not installed (pvc-dev installs it)")


def test_the_fencing_user_is_made_once_and_renamed_in_its_slot(tmp_path: Path,
                                                              port: int) -> None:
    assert power_status(port, "pvcfence", "fence-s3cret").returncode != 0  # not there yet
    first = provision(tmp_path, port, "pvcfence", "fence-s3cret")
    assert first["changed"] >= 3  # name, password, rights (and enabled)
    answer = power_status(port, "pvcfence", "fence-s3cret")
    assert answer.returncode == 0 and "Chassis Power is on" in answer.stdout, answer
    assert provision(tmp_path, port, "pvcfence", "fence-s3cret")["changed"] == 0
    # another name: the same slot holds it, the old name is gone
    provision(tmp_path, port, "fencer", "fence-s3cret")
    users = subprocess.run([IPMITOOL, *lan(port), "user", "list", "1"], capture_output=True,
                           text=True, timeout=30, check=True).stdout
    assert re.search(r"^3\s+fencer\s", users, re.M), users
    assert "pvcfence" not in users
    assert power_status(port, "fencer", "fence-s3cret").returncode == 0
