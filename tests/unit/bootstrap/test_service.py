"""What the daemon makes of leases, boot requests and check-ins, over a real record
(SQLite) and a real cluster repository layout (the webhook sender is replaced by a list:
its delivery has its own tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pvc.bootstrap import notify, repo, settings
from pvc.bootstrap.service import Bootstrap
from pvc.bootstrap.store import Store
from pvc.common.errors import InvalidArgument, NotFound
from pvc.installer import answers

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0 ansible@bs"
BOOTSTRAP_YML = """\
nodes:
  "52:54:00:aa:00:01":
    hostname: hv1
    bmc: {username: admin, password: secret}
  "52:54:00:aa:00:02":
    hostname: hv2
    bmc: {redfish: false}
    install: {mac: "52:54:00:bb:00:02", system_disks: ["detect::8GB:0"], packages: [vim]}
"""
HOSTS = "[c1]\nhv1.example.net\nhv2.example.net ansible_host=10.0.0.2\n[c1:vars]\nx=1\n"
NIC = "52:54:00:bb:00:02"


class Recorder(notify.Notifier):
    def __init__(self) -> None:
        super().__init__(notify.WebhookSettings())
        self.sent: list[tuple[str, str, str, str]] = []

    def send(self, cluster: str, node: str, stage: str, status: str, message: str) -> None:
        self.sent.append((cluster, node, stage, status))


def make(tmp_path: Path, bootstrap_yml: str = BOOTSTRAP_YML) -> tuple[Bootstrap, Recorder]:
    repo = tmp_path / "repo"
    (repo / "group_vars" / "c1").mkdir(parents=True)
    (repo / "group_vars" / "c1" / "bootstrap.yml").write_text(bootstrap_yml)
    (repo / "hosts").write_text(HOSTS)
    cfg = settings.parse(f"""
repository: {repo}
state_dir: {tmp_path / 'state'}
iso: /nonexistent.iso
network: {{interface: bs0, address: 10.199.0.1/24, dhcp_range: 10.199.0.100-10.199.0.199}}
ssh_keys: ["{KEY}"]
""")
    recorder = Recorder()
    service = Bootstrap(cfg, Store(tmp_path / "state" / "state.sqlite"), recorder)
    service.load()
    return service, recorder


def stage(service: Bootstrap, host: str) -> str:
    return service.store.node("c1", host).stage


def test_a_node_without_redfish_goes_from_its_lease_to_booted(tmp_path: Path) -> None:
    service, recorder = make(tmp_path)
    assert recorder.sent == [("c1", "hv1", "waiting", "info"), ("c1", "hv2", "waiting", "info")]
    # an unknown MAC (or a node's BMC) boots its disk; the node's NIC gets the installer
    assert service.boot_script("52:54:00:cc:00:01").endswith("exit 1\n")
    service.lease("add", NIC.upper(), "10.199.0.101")
    assert stage(service, "hv2") == "pxe-booting"
    script = service.boot_script(NIC)
    assert f"pvcinstall.answers=http://10.199.0.1:9999/answers/{NIC}" in script
    got = answers.parse(service.answers(NIC))
    assert (got.hostname, str(got.disk), got.interface, got.address) == (
        "hv2.example.net", "detect::8GB:0", NIC, None)
    assert got.ssh_keys == (KEY,) and got.packages == ("vim",)
    assert got.checkin_url == "http://10.199.0.1:9999/checkin/host"
    for step in ("installing", "installed", "rebooting", "booted"):
        service.host_checkin("hv2.example.net", NIC, step, "")
    assert stage(service, "hv2") == "booted-initial"
    # installed: it boots its disk from now on, even if its firmware still asks PXE first
    assert service.boot_script(NIC).endswith("exit 1\n")
    # a renewed lease or a repeated check-in moves nothing back
    service.lease("old", NIC, "10.199.0.101")
    service.host_checkin("hv2", NIC, "installing", "")
    assert stage(service, "hv2") == "booted-initial"
    assert [s[2:] for s in recorder.sent[2:]] == [
        ("pxe-booting", "begin"), ("installing", "begin"), ("installed", "success"),
        ("installed", "info"), ("booted-initial", "success")]


def test_a_bmc_lease_starts_its_redfish_flow_and_a_failure_is_final(tmp_path: Path) -> None:
    service, recorder = make(tmp_path)
    # (a BMC on a loopback address where nothing listens: Redfish cannot be reached)
    service.lease("add", "52:54:00:aa:00:01", "127.0.0.150")
    assert service.store.node("c1", "hv1").bmc_ip == "127.0.0.150"
    service.jobs.shutdown(wait=True)
    assert stage(service, "hv1") == "failed"
    failed = service.store.events()[-1]
    assert (failed.hostname, failed.stage) == ("hv1", "failed")
    assert "Redfish GET https://127.0.0.150/redfish/v1/Systems" in failed.message
    assert [s[2:] for s in recorder.sent if s[1] == "hv1"] == [
        ("waiting", "info"), ("waiting", "info"), ("characterizing", "begin"),
        ("failed", "failure")]
    told = len(recorder.sent)
    service.lease("old", "52:54:00:aa:00:01", "127.0.0.150")  # renewed: no news
    assert len(recorder.sent) == told
    service.lease("add", NIC, "10.199.0.101")
    service.host_checkin("hv2.example.net", NIC, "failed", "no disk matches detect::8GB:0")
    assert stage(service, "hv2") == "failed"
    assert recorder.sent[-1][2:] == ("failed", "failure")
    assert service.boot_script(NIC).endswith("exit 1\n")  # no install loop on a failure


def test_a_node_on_a_raid_volume_installs_on_the_volume_once_it_is_made(
        tmp_path: Path) -> None:
    service, _ = make(tmp_path, BOOTSTRAP_YML.replace(
        "    bmc: {username: admin, password: secret}\n",
        "    bmc: {username: admin, password: secret}\n"
        "    install: {system_disks: [Disk.Bay.0, Disk.Bay.1]}\n"))
    nic = "52:54:00:bb:00:01"
    drives = [{"id": f"Disk.Bay.{n}", "model": "X", "capacity_bytes": 480 * 10**9,
               "controller": "/s/1", "link": f"/s/1/Drives/{n}"} for n in (0, 1)]
    service.store.update_node("c1", "hv1", facts={"drives": drives}, node_mac=nic)
    with pytest.raises(InvalidArgument, match=r"RAID volume of Disk\.Bay\.0, Disk\.Bay\.1 is not"):
        service.answers(nic)
    service.store.update_node("c1", "hv1", facts={"drives": drives, "system_volume": {
        "id": "v1", "model": "", "capacity_bytes": 479 * 10**9, "controller": "/s/1"}})
    assert str(answers.parse(service.answers(nic)).disk) == "detect::479GB:0"


def test_bad_checkins_are_refused_and_change_nothing(tmp_path: Path) -> None:
    service, recorder = make(tmp_path)
    before = len(recorder.sent)
    bad: list[tuple[Any, ...]] = [
        (InvalidArgument, "hv2", NIC, "rebooted", "is not one of"),
        (InvalidArgument, "hv1.example.net", NIC, "installing", "that NIC is hv2's"),
        (NotFound, "hv2", "52:54:00:cc:00:01", "installing", "no node to install"),
        (InvalidArgument, "hv2", "not-a-mac", "installing", "is not a MAC address"),
    ]
    for error, host, hw, step, message in bad:
        with pytest.raises(error, match=message):
            service.host_checkin(host, hw, step, "")
    with pytest.raises(InvalidArgument, match="lease action"):
        service.lease("tftp", NIC, "10.199.0.101")
    with pytest.raises(ValueError):
        service.lease("add", NIC, "10.199.0.1019")
    with pytest.raises(NotFound):
        service.answers("52:54:00:aa:00:01")  # a BMC is not installed
    assert stage(service, "hv2") == "waiting" and len(recorder.sent) == before
    assert service.store.events() == []


def test_every_node_booted_is_news_for_the_cluster(tmp_path: Path) -> None:
    service, recorder = make(tmp_path)
    service.store.update_node("c1", "hv1", node_mac="52:54:00:bb:00:01")
    for hw, host in (("52:54:00:bb:00:01", "hv1"), (NIC, "hv2")):
        service.host_checkin(f"{host}.example.net", hw, "booted", "")
    service.jobs.shutdown(wait=True)
    assert ("c1", "", "provisioning", "success") in recorder.sent
    # hv1's BMC is to turn its LED off; it has no address, which fails nothing
    assert ("c1", "hv1", "booted-initial", "info") in recorder.sent
    assert stage(service, "hv1") == "booted-initial"
    # then Ansible: this repository has no playbook, which fails the cluster, naming it
    assert ("c1", "", "ansible-running", "begin") in recorder.sent
    assert service.store.cluster_stage("c1") == "failed"
    assert "pvc.yml" in service.store.events(cluster="c1")[-1].message
    assert service.status()["clusters"][0]["nodes"][1]["stage"] == "booted-initial"


def test_a_repository_without_full_names_is_refused(tmp_path: Path) -> None:
    (tmp_path / "repo" / "group_vars" / "c1").mkdir(parents=True)
    (tmp_path / "repo" / "group_vars" / "c1" / "bootstrap.yml").write_text(BOOTSTRAP_YML)
    (tmp_path / "repo" / "hosts").write_text("[c1]\nhv1\nhv2.example.net\n")
    with pytest.raises(InvalidArgument, match="node hv1 has no fully qualified name in "
                       r"group \[c1\]"):
        repo.clusters(tmp_path / "repo")
