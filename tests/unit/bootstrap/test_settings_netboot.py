"""pvcbootstrapd.yml, dnsmasq's command line and the iPXE scripts (pure)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest

from pvc.bootstrap import netboot, settings
from pvc.common.errors import InvalidArgument

GOOD = """\
repository: /srv/clusters
state_dir: /var/lib/pvcbootstrapd
iso: /var/cache/pvc-iso/pvc-installer.iso
network:
  interface: bootstrap0
  address: 10.199.0.1/24
  dhcp_range: 10.199.0.100-10.199.0.199
  nameservers: [10.199.0.1]
ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0 ansible@bs"]
webhook:
  uri: http://127.0.0.1:8080/hook
"""


def test_settings_are_read_with_defaults() -> None:
    got = settings.parse(GOOD)
    assert got.http_base == "http://10.199.0.1:9999"
    assert got.network.dhcp_start == ipaddress.IPv4Address("10.199.0.100")
    assert got.network.gateway is None
    assert got.deploy_user == "deploy"
    assert got.webhook.uri == "http://127.0.0.1:8080/hook"
    assert got.webhook.body["text"] == "{icon} {message}"
    assert got.ready_command == settings.DEFAULT_READY_COMMAND


@pytest.mark.parametrize(("state", "code"), [("run", 0), ("init", 1), ("stop", 1)])
def test_the_default_ready_command_waits_for_the_node_daemon_to_run(
        tmp_path: Path, state: str, code: int) -> None:
    # a `pvc` that answers as the CLI does, for the node named by the short hostname
    fake = tmp_path / "pvc"
    fake.write_text(f'#!/bin/sh\n[ "$1 $2 $3" = "node info $(hostname -s)" ] || exit 9\n'
                    f'echo \'{{"name": "x", "daemon_state": "{state}"}}\'\n')
    fake.chmod(0o755)
    done = subprocess.run(["sh", "-c", settings.DEFAULT_READY_COMMAND], check=False,
                          env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert done.returncode == code


def test_the_ready_command_is_the_operators_own() -> None:
    got = settings.parse(GOOD + "ansible: {ready_command: 'test -f /etc/ok'}\n")
    assert got.ready_command == "test -f /etc/ok"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("iso:", "isos:", "unknown key 'isos'"),
    ("  interface: bootstrap0\n", "", "network: 'interface' is missing"),
    ("10.199.0.100-10.199.0.199", "10.199.1.100-10.199.1.199", "dhcp start 10.199.1.100 is "
     "not in 10.199.0.0/24"),
    ("10.199.0.100-10.199.0.199", "10.199.0.1-10.199.0.9", "inside its own DHCP range"),
    ("10.199.0.100-10.199.0.199", "10.199.0.100", "is not FIRST-LAST"),
    ("address: 10.199.0.1/24", "address: 10.199.0.300/24", "network:"),
    ("interface: bootstrap0", "interface: 'eth0; reboot'", "interface"),
    ("ansible@bs", "ansible@bs\\nssh-rsa x", "ssh_key"),
    ("uri: http://127.0.0.1:8080/hook", "uri: file:///etc/passwd", "webhook uri"),
    ("webhook:", "ansible: {ready_command: ''}\nwebhook:", "ready_command is not a command"),
    ("webhook:", "ansible: {ready: x}\nwebhook:", "unknown key 'ready'"),
])
def test_bad_settings_are_refused_naming_the_key(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(InvalidArgument) as err:
        settings.parse(GOOD.replace(old, new, 1))
    assert message in err.value.message, err.value.message


def test_dnsmasq_hands_ipxe_over_tftp_then_the_daemons_script_over_http() -> None:
    cfg = settings.parse(GOOD)
    args = netboot.dnsmasq_command(cfg.network, Path("/w"), Path("/t"), Path("/w/hook"),
                                   cfg.http_base)
    assert "--interface=bootstrap0" in args and "--port=0" in args
    assert "--dhcp-range=10.199.0.100,10.199.0.199,255.255.255.0,1h" in args
    assert "--dhcp-boot=tag:ipxe,http://10.199.0.1:9999/boot.ipxe" in args
    assert "--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe" in args
    assert "--dhcp-option=option:router" in args  # no gateway given: none offered
    assert "--dhcp-option=option:dns-server,10.199.0.1" in args


def test_the_boot_scripts() -> None:
    script = netboot.boot_script("http://10.199.0.1:9999", "52:54:00:bb:00:02",
                                 ("nomodeset",))
    assert script.startswith("#!ipxe\n")
    kernel = next(line for line in script.splitlines() if line.startswith("kernel "))
    assert "fetch=http://10.199.0.1:9999/netboot/pvc-installer.iso" in kernel
    assert "pvcinstall.answers=http://10.199.0.1:9999/answers/52:54:00:bb:00:02" in kernel
    assert kernel.endswith(" nomodeset")
    local = netboot.local_boot_script("hv1 is installed\n; shell")
    assert local.splitlines()[-1] == "exit 1" and "\n; shell" not in local


def test_the_sample_settings_are_good_settings() -> None:
    sample = Path(settings.__file__).with_name("pvcbootstrapd.yml.sample")
    got = settings.load(sample)
    assert got.network.gateway == ipaddress.IPv4Address("10.199.0.1")
    assert got.webhook.body == {"text": "{icon} {message}"}
