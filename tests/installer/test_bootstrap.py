"""Two servers installed by pvcbootstrapd at once, as a cluster's are, on a bootstrap
network in a namespace of its own (a bridge; the daemon and its dnsmasq):

- hv1 has a Redfish BMC and starts powered off: a libvirt domain (QEMU, TCG) of a private
  libvirtd with two blank drives, the system drive first in its boot order and second
  on its PCI bus (the kernel's vdb); its BMC is sushy-tools' Redfish
  emulator (libvirt driver) in a namespace of its own on the network, where it takes a
  lease as a BMC does. The daemon sees the lease and prepares it through Redfish (off,
  LED, facts with the drives, a BIOS setting, one-time network boot, on), and the
  installer's disk is the drive bootstrap.yml names by its Redfish id; once installed,
  powers it into
  its disk; once booted, turns the LED off.
- hv2 has no Redfish: a QEMU machine powered on by hand (the test), blank disk first and
  its NIC's iPXE ROM second, as a server set to PXE-boot.

Both get the daemon's iPXE script, live-boot fetches the installer ISO, the installer
fetches its answers, installs and checks in, the installed systems check in and let the
deploy user in over SSH on the bootstrap network. Once both are up the daemon runs the
cluster's playbook (a small one that records the boot it ran in), reboots both and waits
for its ready command (the playbook's file is there after the reboot), then runs the
hooks. The webhook gets each node's stages in order, and the cluster's.
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
from unittest.mock import ANY

import bcrypt
import pytest
import yaml

from pvc.devcluster.layout import default_root
from pvc.isobuild import build
from tests.installer.support import (
    WEBHOOK_RECEIVER,
    libvirt_socket,
    private_libvirtd,
    ssh,
    started,
)

pytestmark = pytest.mark.system

BMC_MAC = "52:54:00:5e:c0:ff"
NIC = "52:54:00:5e:c0:01"
HV2_NIC = "52:54:00:5e:c0:02"
SERVER = "10.199.0.1"
SUSHY = Path(sys.executable).with_name("sushy-emulator")
INSTALL_TIMEOUT = 900.0
BOOT_TIMEOUT = 300.0
DOMAIN = """<domain type='qemu'>
  <name>hv1</name>
  <memory unit='MiB'>2048</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='{disk}'/>
      <target dev='vda' bus='virtio'/><boot order='1'/>
      <address type='pci' domain='0' bus='0' slot='6' function='0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='{data}'/>
      <target dev='vdb' bus='virtio'/>
      <address type='pci' domain='0' bus='0' slot='5' function='0'/>
    </disk>
    <interface type='bridge'>
      <source bridge='bs0'/><mac address='{mac}'/><model type='virtio'/><boot order='2'/>
    </interface>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <graphics type='vnc' listen='127.0.0.1' autoport='yes'/>
  </devices>
</domain>
"""
PLAYBOOK = """- hosts: all
  become: true
  gather_facts: false
  tasks:
    - ansible.builtin.slurp: {src: /proc/sys/kernel/random/boot_id}
      register: boot
    - ansible.builtin.copy:
        dest: /etc/pvc-bootstrapped
        content: "{{ do_bootstrap }} {{ inventory_hostname }}\\n{{ boot.content | b64decode }}"
"""
# the daemon reboots the configured nodes; they are ready when the playbook's file is there
READY = "grep -q yes /etc/pvc-bootstrapped"
SUSHY_CONFIG = """
SUSHY_EMULATOR_LIBVIRT_URI = 'qemu+unix:///system?socket={socket}'
SUSHY_EMULATOR_AUTH_FILE = '{auth}'
SUSHY_EMULATOR_FEATURE_SET = 'full'
SUSHY_EMULATOR_STATE_DIR = '{state}'
"""


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def iso(tmp_path_factory: pytest.TempPathFactory) -> build.Built:
    if os.geteuid() != 0:
        pytest.skip("the ISO build needs root (debootstrap): run `sudo ./pvc-dev test`")
    out = tmp_path_factory.mktemp("bootstrapiso") / "pvc-installer.iso"
    return build.build(out, default_root() / "cache" / "iso")


@pytest.mark.timeout(2400)
def test_a_redfish_server_and_a_server_without_are_installed_at_once(
        iso: build.Built, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    ns, bmc_ns = f"pbr-{tag}", f"pbm-{tag}"
    key = tmp_path / "id_ed25519"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ansible@test", "-f", str(key))
    public = key.with_suffix(".pub").read_text().strip()
    repo = tmp_path / "repo"
    (repo / "group_vars" / "c1").mkdir(parents=True)
    (repo / "hosts").write_text("[c1]\nhv1.bootstrap.test\nhv2.bootstrap.test\n")
    (repo / "group_vars" / "c1" / "bootstrap.yml").write_text(f"""\
nodes:
  "{BMC_MAC}":
    hostname: hv1
    bmc:
      username: admin
      password: secret
      bios_settings: {{ProcTurboMode: Disabled}}
    install: {{system_disks: [hv1-system.qcow2]}}  # its drive id (SimpleStorage's name)
  "52:54:00:5e:c0:fe":
    hostname: hv2
    bmc: {{redfish: false}}
    install: {{mac: "{HV2_NIC}", system_disks: ["detect::8GB:0"]}}
hooks:
  - name: marker
    type: script
    args: {{script: "echo hooked > /etc/pvc-hooked"}}
  - name: motd
    type: copy
    target: [hv2]
    args: {{source: files/motd, destination: /etc/motd.pvc, mode: "0600"}}
  - name: tell
    type: webhook
    args: {{uri: "http://127.0.0.1:8088/hook", body: {{text: "the hooks ran"}}}}
""")
    # the cluster's playbook (a small stand-in for the kit's pvc.yml: the whole chain into
    # the PVC roles is the deploy tier's), and a file for the copy hook
    (repo / "pvc.yml").write_text(PLAYBOOK)
    (repo / "files").mkdir()
    (repo / "files" / "motd").write_text("welcome to hv2\n")
    hooks = tmp_path / "webhooks.jsonl"
    config = tmp_path / "pvcbootstrapd.yml"
    config.write_text(f"""
repository: {repo}
state_dir: {tmp_path / 'state'}
iso: {iso.path}
network: {{interface: bs0, address: {SERVER}/24, dhcp_range: 10.199.0.100-10.199.0.199}}
ssh_keys: ["{public}"]
webhook: {{uri: "http://127.0.0.1:8088/hook"}}
redfish: {{scheme: http, port: 8000}}
ansible: {{ssh_key: {key}, ready_command: "{READY}"}}
""")
    # hv1's drives are volumes of a libvirt storage pool, so its BMC lists them. The
    # system drive is first in libvirt's order (which sorts disks by target name, and
    # which the BMC's boot from Hdd follows: SeaBIOS starts the first disk only) but
    # second on its PCI bus, so the guest's kernel names the 4 GB data drive vda and
    # the system drive vdb: the installer must pick it by the rule its id becomes, not
    # by place
    pool = tmp_path / "pool"
    pool.mkdir()
    data, disk = pool / "hv1-data.qcow2", pool / "hv1-system.qcow2"
    console = tmp_path / "console.log"
    disk2, console2 = tmp_path / "hv2.qcow2", tmp_path / "console2.log"
    for image, size in ((data, "4G"), (disk, "8G"), (disk2, "8G")):
        sh("qemu-img", "create", "-q", "-f", "qcow2", str(image), size)
    (tmp_path / "hv1.xml").write_text(DOMAIN.format(data=data, disk=disk, mac=NIC,
                                                    console=console))
    socket = libvirt_socket(tmp_path)
    auth = tmp_path / "htpasswd"
    auth.write_text("admin:" + bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode() + "\n")
    (tmp_path / "sushy").mkdir()
    sushy_conf = tmp_path / "sushy.conf"
    sushy_conf.write_text(SUSHY_CONFIG.format(socket=socket, auth=auth,
                                              state=tmp_path / "sushy"))
    udhcpc = tmp_path / "udhcpc.sh"
    udhcpc.write_text('#!/bin/sh\n[ "$1" = bound ] || exit 0\nip addr add "$ip/$mask" dev '
                      '"$interface"\n')
    udhcpc.chmod(0o755)
    in_ns, in_bmc = ["ip", "netns", "exec", ns], ["ip", "netns", "exec", bmc_ns]

    def cluster_status() -> dict[str, Any]:
        out = sh(*in_ns, sys.executable, "-m", "pvc.bootstrap.daemon", "--config",
                 str(config), "status", "--format", "json")
        found: dict[str, Any] = json.loads(out.stdout)["clusters"][0]
        return found

    def status() -> dict[str, dict[str, Any]]:
        return {n["hostname"]: n for n in cluster_status()["nodes"]}

    def consoles() -> str:
        return "\n".join(f"{c.name}:\n{c.read_text(errors='replace')[-2000:]}"
                         for c in (console, console2) if c.exists())

    def wait_stage(host: str, stage: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (node := status()[host])["stage"] != stage:
            assert node["stage"] != "failed", (
                (tmp_path / "daemon.log").read_text()[-3000:], consoles())
            assert time.monotonic() < deadline, (
                f"{host} not {stage} within {timeout:.0f} s but {node['stage']}; consoles:\n"
                + consoles())
            time.sleep(3)
        return node

    try:
        for name in (ns, bmc_ns):
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "add", "bs0", "type", "bridge")
        sh("ip", "-n", ns, "addr", "add", f"{SERVER}/24", "dev", "bs0")
        sh("ip", "-n", ns, "link", "set", "bs0", "up")
        sh("ip", "-n", ns, "link", "add", "p-bmc", "type", "veth", "peer", "name", "eth0",
           "netns", bmc_ns)
        sh("ip", "-n", bmc_ns, "link", "set", "eth0", "address", BMC_MAC, "up")
        sh("ip", "-n", ns, "link", "set", "p-bmc", "master", "bs0", "up")
        sh("ip", "-n", ns, "tuntap", "add", "tp0", "mode", "tap")  # hv2's NIC
        sh("ip", "-n", ns, "link", "set", "tp0", "master", "bs0", "up")
        with private_libvirtd(tmp_path, ns) as virsh, \
                started([*in_ns, sys.executable, "-c", WEBHOOK_RECEIVER, "8088", str(hooks)],
                        tmp_path / "receiver.log"), \
                started([*in_ns, sys.executable, "-m", "pvc.bootstrap.daemon", "--config",
                         str(config), "run"], tmp_path / "daemon.log"):
            deadline = time.monotonic() + 60
            sh(*virsh, "define", str(tmp_path / "hv1.xml"))
            sh(*virsh, "pool-define-as", "drives", "dir", "--target", str(pool))
            sh(*virsh, "pool-start", "drives")
            while sh(*in_ns, "curl", "-sf", f"http://{SERVER}:9999/status",
                     check=False).returncode != 0:
                assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()
                time.sleep(0.5)
            with started([*in_bmc, str(SUSHY), "--config", str(sushy_conf), "-i", "0.0.0.0",
                          "-p", "8000"], tmp_path / "sushy.log"), \
                    started([*in_ns, "qemu-system-x86_64", "-machine", "pc,accel=tcg",
                             "-m", "2048", "-smp", "1", "-display", "none",
                             "-serial", f"file:{console2}", "-monitor", "none",
                             "-drive", f"file={disk2},if=none,id=d0,format=qcow2",
                             "-device", "virtio-blk-pci,drive=d0,bootindex=1",
                             "-netdev", "tap,id=n0,ifname=tp0,script=no,downscript=no",
                             "-device", f"virtio-net-pci,netdev=n0,mac={HV2_NIC},bootindex=2"],
                            tmp_path / "qemu2.log"):
                # hv2 is powered on (above) as hv1's BMC comes up on the bootstrap network:
                # its lease starts hv1's preparation
                power_on = time.monotonic()
                # (the machines boot beside it on 2 cores: patient tries)
                sh(*in_bmc, "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "20",
                   "-T", "3", "-s", str(udhcpc))
                wait_stage("hv1", "pxe-booting", 120)
                lit = json.loads(sh(*in_bmc, "curl", "-sSfL", "-u", "admin:secret",
                                    "http://127.0.0.1:8000/redfish/v1/Systems/hv1").stdout)
                bios = json.loads(sh(*in_bmc, "curl", "-sSfL", "-u", "admin:secret",
                                     "http://127.0.0.1:8000/redfish/v1/Systems/hv1/BIOS"
                                     ).stdout)
                installed: dict[str, float] = {}
                booted: dict[str, float] = {}
                nodes: dict[str, dict[str, Any]] = {}
                deadline = time.monotonic() + INSTALL_TIMEOUT + BOOT_TIMEOUT
                while len(booted) < 2:
                    for host, node in status().items():
                        assert node["stage"] != "failed", (
                            (tmp_path / "daemon.log").read_text()[-3000:], consoles())
                        if node["stage"] in ("installed", "booted-initial"):
                            installed.setdefault(host, time.monotonic())
                        if node["stage"] == "booted-initial":
                            booted.setdefault(host, time.monotonic())
                            nodes[host] = node
                    assert time.monotonic() < deadline, (status(), consoles())
                    time.sleep(3)
                # then Ansible, the reboot and the hooks: the cluster completes
                deadline = time.monotonic() + 900
                while (cluster := cluster_status())["stage"] not in ("completed", "failed"):
                    assert time.monotonic() < deadline, cluster
                    time.sleep(3)
                configured = time.monotonic()
                assert cluster["stage"] == "completed", (
                    (tmp_path / "daemon.log").read_text()[-3000:],
                    (tmp_path / "state/ansible/c1.log").read_text()[-3000:])
                done = {host: ssh(key, 22, "hostname -f; findmnt -n -o SOURCE /; "
                                  "cat /etc/pvc-bootstrapped /etc/pvc-hooked; "
                                  "cat /proc/sys/kernel/random/boot_id; "
                                  "sudo -n stat -c '%a %n' /etc/motd.pvc || true; "
                                  "sudo -n pvs --noheadings -o pv_name",
                                  host=node["node_ip"], netns=ns)
                        for host, node in nodes.items()}
                deadline = time.monotonic() + 60
                while (led := json.loads(sh(
                        *in_bmc, "curl", "-sSfL", "-u", "admin:secret",
                        "http://127.0.0.1:8000/redfish/v1/Systems/hv1").stdout)[
                        "IndicatorLED"]) != "Off" and time.monotonic() < deadline:
                    time.sleep(1)
            sh(*virsh, "destroy", "hv1", check=False)
        hooks_got = [json.loads(line) for line in hooks.read_text().splitlines()]
    finally:
        for name in (ns, bmc_ns):
            for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", name, check=False)
    print("\nbootstrap figures: " + ", ".join(
        f"{h} power-on to installed {installed[h] - power_on:.0f} s, to booted "
        f"{booted[h] - power_on:.0f} s" for h in sorted(booted))
        + f"; the cluster {max(booted.values()) - power_on:.0f} s, configured (Ansible, "
        f"reboot and hooks) {configured - power_on:.0f} s")
    assert (lit["PowerState"], lit["IndicatorLED"]) == ("On", "Lit")
    assert bios["Attributes"]["ProcTurboMode"] == "Disabled"
    for host in ("hv1", "hv2"):
        assert done[host].returncode == 0, done[host].stderr
        assert done[host].stdout.splitlines()[:5] == [
            f"{host}.bootstrap.test", "/dev/mapper/vgx-root", f"yes {host}.bootstrap.test",
            ANY, "hooked"], done[host].stdout
        # the boot Ansible configured is not the one that runs now: the node rebooted
        ansible_boot, now_boot = done[host].stdout.splitlines()[3], \
            done[host].stdout.splitlines()[5]
        assert len(ansible_boot) == 36 and now_boot != ansible_boot, done[host].stdout
    # hv1 was installed on the drive its id names (the second), hv2 on its only one
    assert done["hv1"].stdout.split()[-1] == "/dev/vdb4", done["hv1"].stdout
    assert done["hv2"].stdout.split()[-1] == "/dev/vda4", done["hv2"].stdout
    facts = yaml.safe_load((repo / "group_vars/c1/bootstrap_facts.yml").read_text())[
        "bootstrap_facts"]["hv1"]
    assert [(d["id"], d["capacity_bytes"]) for d in facts["drives"]] == [
        ("hv1-system.qcow2", 8 * 2**30), ("hv1-data.qcow2", 4 * 2**30)], facts
    # the copy hook went to its target only
    assert "600 /etc/motd.pvc" in done["hv2"].stdout
    assert "motd.pvc" not in done["hv1"].stdout
    assert led == "Off"
    assert (nodes["hv1"]["node_mac"], nodes["hv2"]["node_mac"]) == (NIC, HV2_NIC)

    def stages(host: str) -> list[tuple[str, str]]:
        # (news within a stage, e.g. "rebooting" or hv1's power cycle, aside)
        return [(h["stage"], h["status"]) for h in hooks_got
                if h.get("node") == host and h["status"] != "info"]

    configured_and_done = [("booted-configured", "success"), ("completed", "completed")]
    assert stages("hv1") == [
        ("characterizing", "begin"), ("pxe-booting", "begin"), ("installing", "begin"),
        ("installed", "success"), ("booted-initial", "success"), *configured_and_done]
    assert stages("hv2") == [("pxe-booting", "begin"), ("installing", "begin"),
                             ("installed", "success"), ("booted-initial", "success"),
                             *configured_and_done]
    assert any(h.get("node") == "hv1" and "power-cycled" in h["text"] for h in hooks_got)
    # the cluster's own: every node up, Ansible, the hooks (the webhook hook's own post
    # among them), completed with the trigger word
    cluster_news = [(h.get("stage"), h.get("status")) for h in hooks_got
                    if h.get("node") == "" and h.get("status") != "info"]
    assert cluster_news == [("provisioning", "success"), ("ansible-running", "begin"),
                            ("hooks-running", "begin"), ("completed", "completed")]
    assert {"text": "the hooks ran"} in hooks_got
    assert any(h.get("node") == "" and "rebooting its nodes" in h["text"] for h in hooks_got)
    assert hooks_got[-1]["text"].endswith("cluster c1 completed: 2 nodes installed and "
                                          "configured")
