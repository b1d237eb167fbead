"""A failed cluster started over by the operator: its hooks' step fails (the webhook a hook
posts to is down), the operator brings it up and runs `pvcbootstrapd reset CLUSTER` (the
real command, on the daemon's real record), and the daemon's look for reset clusters runs
the step again, once, to the end. The record is SQLite on disk, the hook's receiver a real
HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc.bootstrap import notify, settings, stages
from pvc.bootstrap.service import Bootstrap
from pvc.bootstrap.store import Store
from tests.installer.support import WEBHOOK_RECEIVER
from tests.ports import free_port

pytestmark = pytest.mark.integration

HOSTS = "[c1]\nhv1.example.net\nhv2.example.net\n"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[Bootstrap, Path, int]]:
    port = free_port()
    repo = tmp_path / "repo"
    (repo / "group_vars" / "c1").mkdir(parents=True)
    (repo / "group_vars" / "c1" / "bootstrap.yml").write_text(f"""\
nodes:
  "52:54:00:aa:00:01":
    hostname: hv1
    bmc: {{redfish: false}}
    install: {{mac: "52:54:00:bb:00:01", system_disks: ["detect::8GB:0"]}}
  "52:54:00:aa:00:02":
    hostname: hv2
    bmc: {{redfish: false}}
    install: {{mac: "52:54:00:bb:00:02", system_disks: ["detect::8GB:0"]}}
hooks:
  - name: tell
    type: webhook
    args: {{uri: "http://127.0.0.1:{port}/hook", body: {{text: "configured"}}}}
""")
    (repo / "hosts").write_text(HOSTS)
    config = tmp_path / "pvcbootstrapd.yml"
    config.write_text(f"""
repository: {repo}
state_dir: {tmp_path / 'state'}
iso: /nonexistent.iso
network: {{interface: bs0, address: 10.199.0.1/24, dhcp_range: 10.199.0.100-10.199.0.199}}
ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq0 ansible@bs"]
""")
    service = Bootstrap(settings.load(config),
                        Store(tmp_path / "state" / "state.sqlite"),
                        notify.Notifier(notify.WebhookSettings()))
    service.load()
    yield service, config, port
    service.jobs.shutdown(wait=True)
    service.store.close()


def wait_stage(service: Bootstrap, stage: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (now := service.store.cluster_stage("c1")) != stage:
        assert time.monotonic() < deadline, f"cluster c1 is {now}, not {stage}"
        time.sleep(0.2)


def test_a_failed_clusters_hooks_run_again_after_a_reset(
        rig: tuple[Bootstrap, Path, int], tmp_path: Path) -> None:
    service, config, port = rig
    store = service.store
    # both nodes configured by Ansible and rebooted: the cluster's hooks run
    for n, host in enumerate(("hv1", "hv2"), start=1):
        store.update_node("c1", host, node_mac=f"52:54:00:bb:00:0{n}", node_ip=f"10.199.0.{n}")
        for stage in stages.NODE_STAGES[2:7]:
            assert store.advance_node("c1", host, stage, stages.INFO, stage)
    assert store.advance_cluster("c1", "ansible-running", stages.BEGIN, "ansible")
    assert store.advance_cluster("c1", "hooks-running", stages.BEGIN, "hooks")
    assert service.submit_cluster("c1")
    wait_stage(service, stages.FAILED)
    assert "hook 'tell'" in store.events(cluster="c1")[-1].message

    # nothing to resume while it is failed; a reset of the command line puts it back
    service.resume_clusters()
    assert store.cluster_stage("c1") == stages.FAILED
    received = tmp_path / "received.jsonl"
    receiver = subprocess.Popen([sys.executable, "-c", WEBHOOK_RECEIVER, str(port),
                                 str(received)], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.1)
        reset = subprocess.run([sys.executable, "-m", "pvc.bootstrap.daemon", "--config",
                                str(config), "reset", "c1"],
                               capture_output=True, text=True, timeout=60, check=False)
        assert reset.returncode == 0, reset.stderr
        assert reset.stdout.startswith("cluster c1 goes on from hooks-running")
        assert store.cluster_stage("c1") == "hooks-running"
        # the daemon's look (every few seconds): one job however often it looks
        service.resume_clusters()
        service.resume_clusters()
        wait_stage(service, "completed")
    finally:
        receiver.terminate()
        receiver.wait(10)
    assert [json.loads(line) for line in received.read_text().splitlines()] == [
        {"text": "configured"}]
    assert {n.stage for n in store.nodes("c1")} == {"completed"}
    # a second reset of a cluster that completed is refused, naming why, and changes nothing
    again = subprocess.run([sys.executable, "-m", "pvc.bootstrap.daemon", "--config",
                            str(config), "reset", "c1"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 2
    assert "cluster c1 is completed, not failed" in again.stderr
    assert store.cluster_stage("c1") == "completed"
