"""A server with no Redfish, installed by pvcbootstrapd over the network: the daemon and
its dnsmasq in a namespace of their own (the bootstrap network, a bridge with the
server's tap on it), the server a QEMU (TCG) machine with a blank disk first in its boot
order and its NIC's iPXE ROM second, as a real server set to PXE-boot. It gets a lease
and the daemon's script, live-boot fetches the installer ISO, the installer fetches its
answers, installs and checks in, the disk boots by itself (the daemon sends iPXE on to
the disk should the firmware ask again) and the installed system checks in and lets the
deploy user in over SSH on the bootstrap network. The webhook gets every stage in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pvc.devcluster.layout import default_root
from pvc.isobuild import build
from tests.installer.support import WEBHOOK_RECEIVER, ssh, started, wait_console

pytestmark = pytest.mark.system

MAC = "52:54:00:5e:b0:01"
SERVER = "10.199.0.1"
INSTALL_TIMEOUT = 900.0  # power-on, PXE, ISO fetch, live system, install (TCG)
BOOT_TIMEOUT = 300.0


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def iso(tmp_path_factory: pytest.TempPathFactory) -> build.Built:
    if os.geteuid() != 0:
        pytest.skip("the ISO build needs root (debootstrap): run `sudo ./pvc-dev test`")
    out = tmp_path_factory.mktemp("pxeiso") / "pvc-installer.iso"
    return build.build(out, default_root() / "cache" / "iso")


@pytest.mark.timeout(2400)
def test_a_server_without_redfish_is_installed_over_the_network(
        iso: build.Built, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    ns = f"pbx-{tag}"
    key = tmp_path / "id_ed25519"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ansible@test", "-f", str(key))
    public = key.with_suffix(".pub").read_text().strip()
    repo = tmp_path / "repo"
    (repo / "group_vars" / "c1").mkdir(parents=True)
    (repo / "hosts").write_text("[c1]\nhv1.pxe.test\n")
    (repo / "group_vars" / "c1" / "bootstrap.yml").write_text(f"""\
nodes:
  "52:54:00:5e:b0:ff":
    hostname: hv1
    bmc: {{redfish: false}}
    install: {{mac: "{MAC}", system_disks: ["detect::8GB:0"]}}
""")
    hooks = tmp_path / "webhooks.jsonl"
    config = tmp_path / "pvcbootstrapd.yml"
    config.write_text(f"""
repository: {repo}
state_dir: {tmp_path / 'state'}
iso: {iso.path}
network: {{interface: bs0, address: {SERVER}/24, dhcp_range: 10.199.0.100-10.199.0.199}}
ssh_keys: ["{public}"]
webhook: {{uri: "http://127.0.0.1:8088/hook"}}
""")
    disk = tmp_path / "disk.qcow2"
    sh("qemu-img", "create", "-q", "-f", "qcow2", str(disk), "8G")
    console = tmp_path / "console.log"
    in_ns = ["ip", "netns", "exec", ns]

    def status() -> dict[str, Any]:
        out = sh(*in_ns, sys.executable, "-m", "pvc.bootstrap.daemon", "--config",
                 str(config), "status", "--format", "json")
        node: dict[str, Any] = json.loads(out.stdout)["clusters"][0]["nodes"][0]
        return node

    def wait_stage(stage: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (node := status())["stage"] != stage:
            assert node["stage"] != "failed", console.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, (
                f"not {stage} within {timeout:.0f} s but {node['stage']}; console:\n"
                + console.read_text(errors="replace")[-3000:])
            time.sleep(3)
        return node

    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "add", "bs0", "type", "bridge")
        sh("ip", "-n", ns, "addr", "add", f"{SERVER}/24", "dev", "bs0")
        sh("ip", "-n", ns, "tuntap", "add", "tp0", "mode", "tap")
        sh("ip", "-n", ns, "link", "set", "tp0", "master", "bs0")
        for dev in ("bs0", "tp0"):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        with started([*in_ns, sys.executable, "-c", WEBHOOK_RECEIVER, "8088", str(hooks)],
                     tmp_path / "receiver.log"), \
                started([*in_ns, sys.executable, "-m", "pvc.bootstrap.daemon", "--config",
                         str(config), "run"], tmp_path / "daemon.log") as daemon:
            deadline = time.monotonic() + 60
            while sh(*in_ns, "curl", "-sf", f"http://{SERVER}:9999/status",
                     check=False).returncode != 0:
                assert daemon.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / "daemon.log").read_text()[-3000:]
                time.sleep(0.5)
            power_on = time.monotonic()
            with started([*in_ns, "qemu-system-x86_64", "-machine", "pc,accel=tcg",
                          "-m", "2048", "-smp", "1", "-display", "none",
                          "-serial", f"file:{console}", "-monitor", "none",
                          "-drive", f"file={disk},if=none,id=d0,format=qcow2",
                          "-device", "virtio-blk-pci,drive=d0,bootindex=1",
                          "-netdev", "tap,id=n0,ifname=tp0,script=no,downscript=no",
                          "-device", f"virtio-net-pci,netdev=n0,mac={MAC},bootindex=2"],
                         tmp_path / "qemu.log"):
                wait_console(console, r"PVC-INSTALL-DONE in \d+ s", INSTALL_TIMEOUT,
                             fail=r"PVC-INSTALL-(REFUSED|FAILED).*")
                installed = time.monotonic()
                node = wait_stage("booted-initial", BOOT_TIMEOUT)
                booted = time.monotonic()
                done = ssh(key, 22, "hostname -f; sudo -n true && echo sudo-ok; "
                           "findmnt -n -o SOURCE /", host=node["node_ip"], netns=ns)
        hooks_got = [json.loads(line) for line in hooks.read_text().splitlines()]
    finally:
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        sh("ip", "netns", "del", ns, check=False)
    print(f"\nPXE install figures: power-on to installed {installed - power_on:.0f} s, "
          f"installed to booted {booted - installed:.0f} s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hv1.pxe.test", "sudo-ok", "/dev/mapper/vgx-root"]
    assert [(h["stage"], h["status"]) for h in hooks_got if h["node"] == "hv1"] == [
        ("waiting", "info"), ("pxe-booting", "begin"), ("installing", "begin"),
        ("installed", "success"), ("installed", "info"), ("booted-initial", "success")]
    assert hooks_got[-1]["node"] == ""
    assert "every node (1) is installed" in hooks_got[-1]["text"]
