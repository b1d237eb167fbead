"""pvcbootstrapd on real parts: the daemon with its dnsmasq in a network namespace of its
own (the bootstrap network), a "BMC" and a "server NIC" in namespaces of their own on it
(busybox udhcpc as their DHCP client, busybox tftp and curl as what iPXE fetches), the
installer's own check-in code, a webhook receiver, and the record on disk.

A server without Redfish (its NIC named in bootstrap.yml) goes from its DHCP lease to
booted, each stage reaching the webhook in order; a restarted daemon goes on from where
it was; bad input is refused and changes nothing; a cluster the operator reset is taken
up again by the running daemon; a daemon whose dnsmasq died stops.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from pvc.bootstrap import stages
from pvc.bootstrap.daemon import RESUME_EVERY
from pvc.bootstrap.netboot import IPXE_FILES
from pvc.bootstrap.store import Store
from pvc.installer import answers
from tests.installer.support import WEBHOOK_RECEIVER
from tests.integration.waiting import wait_until

# (each look at the status runs `pvcbootstrapd status`: not too often)
wait_for = functools.partial(wait_until, interval=0.3)
SERVER = "10.199.0.1"
API = f"http://{SERVER}:9999"
NIC = "52:54:00:bb:00:02"
BMC = "52:54:00:aa:00:01"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0bootstrapkey ansible@bs"
BOOTSTRAP_YML = f"""\
nodes:
  "{BMC}":
    hostname: hv1
    bmc: {{username: admin, password: secret}}
    install: {{system_disks: [drv-b]}}   # a Redfish drive id
  "52:54:00:aa:00:02":
    hostname: hv2
    bmc: {{redfish: false}}
    install: {{mac: "{NIC}", system_disks: ["detect::8GB:0"]}}
"""
HOSTS = "[c1]\nhv1.example.net\nhv2.example.net\n"
SUSHY_CONFIG = """
SUSHY_EMULATOR_FAKE_SYSTEMS = [{{
    'uuid': '5e0a7c3e-1b5e-4a55-9d0c-3f1c2a3b4c01', 'name': 'hv1', 'power_state': 'On',
    'nics': [{{'mac': '{nic}', 'ip': '10.199.0.60'}}],
}}]
SUSHY_EMULATOR_AUTH_FILE = '{auth}'
SUSHY_EMULATOR_STATE_DIR = '{state}'
SUSHY_EMULATOR_FEATURE_SET = 'full'
# its drives (the emulator's model is C123 for all): two alike, one larger
SUSHY_EMULATOR_STORAGE = {{'5e0a7c3e-1b5e-4a55-9d0c-3f1c2a3b4c01': [{{
    'Id': '1', 'Name': 'RAID controller', 'Drives': ['drv-a', 'drv-b', 'drv-c']}}]}}
SUSHY_EMULATOR_DRIVES = {{('5e0a7c3e-1b5e-4a55-9d0c-3f1c2a3b4c01', '1'): [
    {{'Id': 'drv-a', 'Name': 'Bay 0', 'CapacityBytes': 900000000000, 'Protocol': 'SAS'}},
    {{'Id': 'drv-b', 'Name': 'Bay 1', 'CapacityBytes': 900000000000, 'Protocol': 'SAS'}},
    {{'Id': 'drv-c', 'Name': 'Bay 2', 'CapacityBytes': 4000000000000, 'Protocol': 'SAS'}}]}}
"""
HV1_NIC = "52:54:00:bb:00:01"
UDHCPC_SCRIPT = """#!/bin/sh
# records what the DHCP server offered, and takes the address
[ "$1" = bound ] || exit 0
echo "$boot_file" > "$(dirname "$0")/boot_file.$interface.$$"
ip addr flush dev "$interface"
ip addr add "$ip/$mask" dev "$interface"
"""

needed = ["/usr/sbin/dnsmasq", "/usr/bin/curl", "/usr/bin/xorriso", "/usr/bin/busybox",
          str(IPXE_FILES["undionly.kpxe"])]
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(Path(p).exists() for p in needed),
    reason="needs root, dnsmasq, curl, xorriso, busybox and ipxe (run through ./pvc-dev test)")


def sh(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout)


@dataclass
class Rig:
    tag: str
    srv: str  # the daemon's namespace
    nic: str  # the server's PXE NIC
    bmc: str  # its BMC
    work: Path
    config: Path
    hooks: Path  # what the webhook receiver got, one JSON body per line
    netboot: dict[str, bytes]
    daemon: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.work / "daemon.log").open("ab")
        self.daemon = subprocess.Popen(
            ["ip", "netns", "exec", self.srv, sys.executable, "-m", "pvc.bootstrap.daemon",
             "--config", str(self.config), "run"], stdout=log, stderr=log,
            stdin=subprocess.DEVNULL)
        wait_for("the daemon's API", lambda: self.curl(self.srv, "/status").returncode == 0
                 or self.daemon_died())

    def daemon_died(self) -> bool:
        if self.daemon is not None and self.daemon.poll() is not None:
            raise AssertionError("pvcbootstrapd exited: "
                                 + (self.work / "daemon.log").read_text()[-3000:])
        return False

    def dnsmasqs(self) -> list[int]:
        """The dnsmasq processes in the daemon's namespace."""
        out = []
        for pid in sh("ip", "netns", "pids", self.srv).stdout.split():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "dnsmasq":
                    out.append(int(pid))
        return out

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        assert self.daemon is not None
        self.daemon.send_signal(how)
        code = self.daemon.wait(20)
        self.daemon = None
        return code

    def curl(self, ns: str, path: str, *args: str) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, "curl", "-sS", "-f", "-m", "10", *args,
                  API + path, check=False)

    def clusters(self) -> list[dict[str, Any]]:
        out = sh("ip", "netns", "exec", self.srv, sys.executable, "-m",
                 "pvc.bootstrap.daemon", "--config", str(self.config), "status", "--format",
                 "json")
        return list(json.loads(out.stdout)["clusters"])

    def status(self) -> dict[str, dict[str, Any]]:
        return {n["hostname"]: n for c in self.clusters() for n in c["nodes"]}

    def webhooks(self) -> list[dict[str, Any]]:
        if not self.hooks.exists():
            return []
        return [json.loads(line) for line in self.hooks.read_text().splitlines()]

    def dhcp(self, ns: str, *extra: str) -> str:
        """A lease for the namespace's eth0; the boot file the server offered."""
        script = self.work / "udhcpc.sh"
        out = sh("ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0", "-f", "-q",
                 "-n", "-t", "10", "-T", "1", "-s", str(script), *extra)
        assert "obtained" in out.stderr + out.stdout, out
        found = list(self.work.glob("boot_file.eth0.*"))
        offered = max(found, key=lambda p: p.stat().st_mtime).read_text().strip()
        for p in found:
            p.unlink()
        return offered

    def installer_checkin(self, stage: str, hostname: str = "hv2.example.net",
                          message: str = "") -> None:
        """A check-in made by the installer's own code, from the server's namespace."""
        code = ("import sys\nfrom pvc.installer import answers, install\n"
                "a = answers.parse(open(sys.argv[1]).read())\n"
                "a = a.__class__(**{**vars(a), 'hostname': sys.argv[4]})\n"
                "install.checkin(a, sys.argv[2], sys.argv[3], sys.argv[5])\n")
        sh("ip", "netns", "exec", self.nic, sys.executable, "-c", code,
           str(self.work / "answers.txt"), NIC, stage, hostname, message)


def tiny_iso(work: Path) -> tuple[Path, dict[str, bytes]]:
    """A real ISO 9660 image with the files the daemon takes from the installer ISO (small
    stand-ins: booting them is the installer tier's business)."""
    tree = work / "isotree"
    (tree / "live").mkdir(parents=True)
    files = {"vmlinuz": os.urandom(70_000), "initrd.img": os.urandom(90_000)}
    for name, data in files.items():
        (tree / "live" / name).write_bytes(data)
    iso = work / "pvc-installer.iso"
    sh("xorriso", "-as", "mkisofs", "-quiet", "-R", "-V", "PVCTEST", "-o", str(iso), str(tree))
    return iso, files


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tag = uuid.uuid4().hex[:6]
    work = tmp_path_factory.mktemp("bootstrapd")
    srv, nic, bmc = f"pbs-{tag}", f"pbn-{tag}", f"pbb-{tag}"
    repo = work / "repo"
    (repo / "group_vars" / "c1").mkdir(parents=True)
    (repo / "group_vars" / "c1" / "bootstrap.yml").write_text(BOOTSTRAP_YML)
    (repo / "hosts").write_text(HOSTS)
    sh("git", "-C", str(repo), "init", "-q")
    sh("git", "-C", str(repo), "add", "-A")
    sh("git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
       "-m", "the operator's repository")
    iso, files = tiny_iso(work)
    port = 18000 + int(tag[:3], 16) % 1000
    hooks = work / "webhooks.jsonl"
    config = work / "pvcbootstrapd.yml"
    config.write_text(f"""
repository: {repo}
state_dir: {work / 'state'}
iso: {iso}
network: {{interface: bs0, address: {SERVER}/24, dhcp_range: 10.199.0.100-10.199.0.199}}
ssh_keys: ["{KEY}"]
webhook: {{uri: "http://127.0.0.1:{port}/hook"}}
redfish: {{scheme: http, port: 8000}}
""")
    # hv1's BMC: a Redfish emulator (sushy-tools, its fake system) in the BMC's namespace
    auth = work / "htpasswd"
    auth.write_text("admin:" + bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode() + "\n")
    (work / "sushy").mkdir()
    sushy_config = work / "sushy.conf"
    sushy_config.write_text(SUSHY_CONFIG.format(nic=HV1_NIC, auth=auth, state=work / "sushy"))
    script = work / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    r = Rig(tag, srv, nic, bmc, work, config, hooks, files)
    receiver: subprocess.Popen[bytes] | None = None
    sushy: subprocess.Popen[bytes] | None = None
    try:
        for ns in (srv, nic, bmc):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", srv, "link", "add", "bs0", "type", "bridge")
        sh("ip", "-n", srv, "addr", "add", f"{SERVER}/24", "dev", "bs0")
        sh("ip", "-n", srv, "link", "set", "bs0", "up")
        for ns, mac, port_name in ((nic, NIC, "p-nic"), (bmc, BMC, "p-bmc")):
            sh("ip", "-n", srv, "link", "add", port_name, "type", "veth", "peer", "name",
               "eth0", "netns", ns)
            sh("ip", "-n", ns, "link", "set", "eth0", "address", mac, "up")
            sh("ip", "-n", srv, "link", "set", port_name, "master", "bs0", "up")
        receiver = subprocess.Popen(["ip", "netns", "exec", srv, sys.executable, "-c",
                                     WEBHOOK_RECEIVER, str(port), str(hooks)],
                                    stdin=subprocess.DEVNULL)
        with (work / "sushy.log").open("ab") as sushy_log:
            sushy = subprocess.Popen(
                ["ip", "netns", "exec", bmc, str(Path(sys.executable).with_name(
                    "sushy-emulator")), "--config", str(sushy_config), "--fake", "-i",
                 "0.0.0.0", "-p", "8000"], stdin=subprocess.DEVNULL, stdout=sushy_log,
                stderr=sushy_log)
        r.start()
        yield r
    finally:
        if r.daemon is not None:
            r.stop()
        for proc in (receiver, sushy):
            if proc is not None:
                proc.terminate()
                proc.wait(10)
        for ns in (srv, nic, bmc):  # whatever a failed test left running there
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for ns in (srv, nic, bmc):
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)


def hv2_stages(r: Rig) -> list[tuple[str, str]]:
    return [(h["stage"], h["status"]) for h in r.webhooks() if h["node"] == "hv2"]


def test_a_server_without_redfish_goes_from_its_lease_to_booted(rig: Rig) -> None:
    r = rig
    assert {h: n["stage"] for h, n in r.status().items()} == {"hv1": "waiting",
                                                              "hv2": "waiting"}
    # the server's firmware asks: iPXE over TFTP (BIOS)...
    assert r.dhcp(r.nic) == "undionly.kpxe"
    got = r.work / "undionly.kpxe"
    sh("ip", "netns", "exec", r.nic, "busybox", "tftp", "-g", "-r", "undionly.kpxe", "-l",
       str(got), SERVER)
    assert got.read_bytes() == IPXE_FILES["undionly.kpxe"].read_bytes()
    # ... then iPXE asks again (option 175) and is sent to the daemon over HTTP
    assert r.dhcp(r.nic, "-x", "0xaf:0101") == f"{API}/boot.ipxe"
    # the lease hook told the daemon: the node is PXE-booting
    assert wait_for("pxe-booting", lambda: r.status()["hv2"]["stage"] == "pxe-booting")
    assert r.status()["hv2"]["node_ip"].startswith("10.199.0.")
    chain = r.curl(r.nic, "/boot.ipxe").stdout
    assert "chain http://10.199.0.1:9999/boot/${net0/mac}" in chain
    script = r.curl(r.nic, f"/boot/{NIC}").stdout
    kernel = next(line for line in script.splitlines() if line.startswith("kernel "))
    assert kernel.startswith(f"kernel {API}/netboot/vmlinuz ")
    assert f"fetch={API}/netboot/pvc-installer.iso" in kernel
    assert f"pvcinstall.answers={API}/answers/{NIC}" in kernel
    for name, data in r.netboot.items():
        fetched = r.work / f"fetched-{name}"
        assert r.curl(r.nic, f"/netboot/{name}", "-o", str(fetched)).returncode == 0
        assert fetched.read_bytes() == data
    assert r.curl(r.nic, "/netboot/..%2f..%2fstate.sqlite").returncode != 0
    # the installer fetches its answers (what it would from the kernel command line)
    text = r.curl(r.nic, f"/answers/{NIC}").stdout
    (r.work / "answers.txt").write_text(text)
    got_answers = answers.parse(text)
    assert (got_answers.hostname, got_answers.interface, got_answers.ssh_keys) == (
        "hv2.example.net", NIC, (KEY,))
    assert got_answers.checkin_url == f"{API}/checkin/host"
    # and checks in at each stage, as it does
    for stage, reached in (("installing", "installing"), ("installed", "installed"),
                           ("rebooting", "installed"), ("booted", "booted-initial")):
        r.installer_checkin(stage)
        assert wait_for(stage, functools.partial(lambda s: r.status()["hv2"]["stage"] == s,
                                                 reached))
    # installed: asked again (a firmware that keeps PXE first), iPXE leaves for the disk
    assert r.curl(r.nic, f"/boot/{NIC}").stdout.splitlines()[-1] == "exit 1"
    # every stage reached the webhook, in order, with the text chat tools show
    assert wait_for("the webhooks", lambda: len(hv2_stages(r)) >= 6) and hv2_stages(r) == [
        ("waiting", "info"), ("pxe-booting", "begin"), ("installing", "begin"),
        ("installed", "success"), ("installed", "info"), ("booted-initial", "success")]
    assert all(h["text"] for h in r.webhooks())
    text_status = sh("ip", "netns", "exec", r.srv, sys.executable, "-m",
                     "pvc.bootstrap.daemon", "--config", str(r.config), "status").stdout
    assert re.search(r"hv2\s+booted-initial\s+NIC 52:54:00:bb:00:02", text_status), text_status


def test_a_redfish_bmc_that_takes_a_lease_has_its_server_prepared_and_powered_on(
        rig: Rig) -> None:
    r = rig
    r.dhcp(r.bmc)
    bmc_ip = wait_for("the BMC's address recorded", lambda: r.status()["hv1"]["bmc_ip"])
    # through Redfish: off, LED lit, facts read, boot once from the network, on (the
    # emulator applies each power change 1-11 s later)
    hv1 = wait_for("hv1 pxe-booting", lambda: (n := r.status()["hv1"])["stage"] in (
        "pxe-booting", "failed") and n, timeout=90)
    assert hv1["stage"] == "pxe-booting", (r.webhooks(), (r.work / "daemon.log").read_text()
                                           [-2000:])
    assert hv1["node_mac"] == HV1_NIC  # the system's first NIC: its answers and script
    system = json.loads(sh("ip", "netns", "exec", r.bmc, "curl", "-sSf", "-u", "admin:secret",
                           "http://127.0.0.1:8000/redfish/v1/Systems/5e0a7c3e-1b5e-4a55-9d0c-"
                           "3f1c2a3b4c01").stdout)
    assert (system["PowerState"], system["IndicatorLED"]) == ("On", "Lit")
    assert system["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    assert f"pvcinstall.answers={API}/answers/{HV1_NIC}" in r.curl(r.nic, f"/boot/{HV1_NIC}"
                                                                   ).stdout
    # its system disk, named by drive id, is the rule that picks that drive: the second
    # of the two alike
    assert answers.parse(r.curl(r.nic, f"/answers/{HV1_NIC}").stdout).disk == answers.disk(
        "detect:C123:900GB:1")
    stages_hv1 = [(h["stage"], h["status"]) for h in r.webhooks() if h["node"] == "hv1"]
    assert stages_hv1 == [("waiting", "info"), ("waiting", "info"),
                          ("characterizing", "begin"), ("pxe-booting", "begin")]
    # what was learnt is committed to the cluster repository, where Ansible reads it too
    repo = r.work / "repo"
    facts = yaml.safe_load((repo / "group_vars" / "c1" / "bootstrap_facts.yml").read_text())
    assert facts["bootstrap_facts"]["hv1"]["nic_mac"] == HV1_NIC
    assert facts["bootstrap_facts"]["hv1"]["macs"] == [HV1_NIC]
    drives = facts["bootstrap_facts"]["hv1"]["drives"]
    assert [{k: d[k] for k in ("id", "model", "capacity_bytes")} for d in drives] == [
        {"id": f"drv-{x}", "model": "C123", "capacity_bytes": size}
        for x, size in (("a", 900 * 10**9), ("b", 900 * 10**9), ("c", 4 * 10**12))]
    # with the controller and the link a RAID volume would name them by
    assert all(d["controller"].endswith("/Storage/1") and
               d["link"] == f"{d['controller']}/Drives/{d['id']}" for d in drives), drives
    assert facts["bootstrap_facts"]["hv1"]["install_disk"] == "detect:C123:900GB:1"
    assert sh("git", "-C", str(repo), "log", "-1", "--format=%s %an").stdout.strip() == \
        "pvcbootstrapd: hv1 characterized pvcbootstrapd"
    assert not sh("git", "-C", str(repo), "status", "--porcelain").stdout.strip()
    assert f"BMC of hv1 has {bmc_ip}" in [h for h in r.webhooks() if h["node"] == "hv1"][1][
        "text"]


def test_bad_checkins_are_refused_and_change_nothing(rig: Rig) -> None:
    r = rig
    before = (r.status(), len(r.webhooks()))
    for body, code, message in [
        ({"hostname": "hv2.example.net", "mac": NIC, "stage": "exploded"}, 400,
         "is not one of"),
        ({"hostname": "hv1.example.net", "mac": NIC, "stage": "installing"}, 400,
         "that NIC is hv2's"),
        ({"hostname": "hv9.example.net", "mac": "52:54:00:cc:00:09", "stage": "installing"},
         404, "no node to install"),
        ({"hostname": "hv2", "mac": "nic; reboot", "stage": "installing"}, 400,
         "not a MAC address"),
    ]:
        out = sh("ip", "netns", "exec", r.nic, "curl", "-sS", "-m", "10", "-o", "/dev/stdout",
                 "-w", "\n%{http_code}", "-H", "Content-Type: application/json", "-d",
                 json.dumps(body), f"{API}/checkin/host")
        reply, status = out.stdout.rsplit("\n", 1)
        assert (int(status), message in json.loads(reply)["message"]) == (code, True), reply
    assert r.curl(r.nic, "/answers/52:54:00:cc:00:09").returncode != 0
    assert (r.status(), len(r.webhooks())) == before


def test_a_restarted_daemon_goes_on_from_where_it_was(rig: Rig) -> None:
    r = rig
    before = r.status()
    hooks = len(r.webhooks())
    assert r.stop() == 0
    # its dnsmasq went with it
    assert wait_for("dnsmasq gone", lambda: not r.dnsmasqs())
    r.start()
    after = r.status()
    assert {h: n["stage"] for h, n in after.items()} == {h: n["stage"]
                                                         for h, n in before.items()}
    assert after["hv2"]["node_ip"] == before["hv2"]["node_ip"]
    # nothing started over: no node was announced as waiting again
    time.sleep(1)
    assert len(r.webhooks()) == hooks, r.webhooks()[hooks:]
    # and its new dnsmasq serves the same network (the lease is renewed, nothing moves)
    assert r.dhcp(r.nic, "-x", "0xaf:0101") == f"{API}/boot.ipxe"
    assert r.status()["hv2"]["stage"] == "booted-initial"


def test_a_killed_daemon_leaves_no_second_dnsmasq(rig: Rig) -> None:
    r = rig
    assert len(r.dnsmasqs()) >= 1
    assert r.stop(signal.SIGKILL) == -signal.SIGKILL
    left = r.dnsmasqs()  # (dnsmasq's capabilities change clears the parent-death signal)
    r.start()
    now = r.dnsmasqs()
    assert now and not set(left) & set(now)  # the stale one was stopped, a new one runs
    assert len(now) <= 2  # one dnsmasq (and the helper it forks for its lease hook)
    assert r.dhcp(r.nic, "-x", "0xaf:0101") == f"{API}/boot.ipxe"


def test_a_bad_bootstrap_yml_stops_the_daemon_naming_the_line(rig: Rig) -> None:
    r = rig
    repo = r.work / "badrepo"
    (repo / "group_vars" / "c9").mkdir(parents=True)
    (repo / "hosts").write_text("[c9]\nhv1.example.net\n")
    (repo / "group_vars" / "c9" / "bootstrap.yml").write_text(
        'nodes:\n  "52:54:00:aa:00:09":\n    hostname: hv1\n    colour: blue\n')
    config = r.work / "bad.yml"
    config.write_text(r.config.read_text().replace(str(r.work / "repo"), str(repo)).replace(
        str(r.work / "state"), str(r.work / "badstate")))
    out = sh(sys.executable, "-m", "pvc.bootstrap.daemon", "--config", str(config), "run",
             check=False)
    assert out.returncode == 2
    assert "bootstrap.yml, line 4: unknown key 'colour' in node 52:54:00:aa:00:09" in \
        out.stderr, out.stderr


def test_a_reset_cluster_is_taken_up_by_the_running_daemon(rig: Rig) -> None:
    r = rig
    # cluster c1's hooks failed (its repository names none: the step only finishes the
    # nodes): recorded by hand on the daemon's own record, then reset by the command line
    store = Store(r.work / "state" / "state.sqlite")
    try:
        store.note("c1", "", "hooks-running", stages.INFO, "cluster c1: running its hooks")
        assert store.advance_cluster("c1", stages.FAILED, stages.FAILURE, "c1 failed")
    finally:
        store.close()
    time.sleep(RESUME_EVERY + 1)  # a failed cluster is left alone
    assert {c["name"]: c["stage"] for c in r.clusters()}["c1"] == stages.FAILED
    out = sh(sys.executable, "-m", "pvc.bootstrap.daemon", "--config", str(r.config),
             "reset", "c1")
    assert out.stdout.startswith("cluster c1 goes on from hooks-running")
    # the daemon, told nothing, runs the step again within its look's period
    wait_for("cluster c1 completed",
             lambda: {c["name"]: c["stage"] for c in r.clusters()}["c1"] == "completed",
             timeout=RESUME_EVERY + 20)
    assert {n["stage"] for n in r.status().values()} == {"completed"}
    assert [h["stage"] for h in r.webhooks() if h["node"] == ""][-1] == "completed"
    assert r.daemon is not None and r.daemon.poll() is None


def test_a_daemon_whose_dnsmasq_died_stops_saying_so(rig: Rig) -> None:
    r = rig
    assert r.daemon is not None
    for pid in r.dnsmasqs():
        os.kill(pid, signal.SIGKILL)
    assert r.daemon.wait(20) == 1  # not a daemon that answers but hands out no lease
    r.daemon = None
    assert "dnsmasq exited" in (r.work / "daemon.log").read_text()
    assert not r.dnsmasqs()
