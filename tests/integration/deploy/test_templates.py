"""The Ansible kit's configuration templates, rendered by Ansible itself from the
operator's starting point (group_vars/default) and read by the real programs that take
them: bgpd's dry run for frr.conf, ceph-conf for ceph.conf, Patroni's own validation for
its configuration, sh for the bootstrap script. A template error shows here in seconds,
not after a deployment run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from pvc.devcluster import frr, zookeeper
from pvc.state.ensemble import four_letter
from tests.ports import free_port

pytestmark = pytest.mark.integration

KIT = Path(__file__).resolve().parents[3] / "deploy" / "ansible"
TEMPLATES = KIT / "roles" / "pvc" / "templates"
FSID = "0b2f5c1e-3d4a-4f6b-8c7d-9e0f1a2b3c4d"
# the namespace of Ansible's to_uuid filter
ANSIBLE_UUID_NAMESPACE = uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E")


def render(where: Path, node: str, names: list[str], extra: dict[str, Any]) -> dict[str, str]:
    """Each template as Ansible renders it for `node` of the default group_vars."""
    play = [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(KIT / "group_vars/default/base.yml"),
                       str(KIT / "group_vars/default/pvc.yml")],
        "tasks": [
            {"ansible.builtin.set_fact": {
                "pvc_node_name": node,
                "pvc_node": f"{{{{ pvc_nodes | selectattr('hostname', 'equalto', '{node}') "
                            "| first }}",
                "pvc_coordinators": "{{ pvc_nodes | selectattr('is_coordinator', 'defined') "
                                    "| selectattr('is_coordinator') | map(attribute='hostname')"
                                    " | list }}"}},
            {"ansible.builtin.template": {"src": f"{TEMPLATES}/{{{{ item }}}}.j2",
                                          "dest": f"{where}/{{{{ item }}}}"},
             "loop": names},
        ],
    }]
    (where / "play.yml").write_text(yaml.safe_dump(play))
    done = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(where / "play.yml"), "-e",
         json.dumps({"cluster_group": "test", "pvc_ceph_secrets": {"fsid": FSID}, **extra})],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1",
             "ANSIBLE_LOCAL_TEMP": str(where / ".tmp"), "HOME": str(where)})
    assert done.returncode == 0, done.stdout[-3000:]
    return {name: (where / name).read_text() for name in names}


@pytest.fixture(scope="module", autouse=True)
def needs_ansible() -> None:
    if shutil.which("ansible-playbook") is None:
        pytest.skip("ansible-playbook is not installed (pvc-dev installs it)")


@pytest.mark.skipif(not frr.available(), reason="FRR is not installed (pvc-dev installs it)")
def test_frr_conf_of_a_coordinator_and_a_hypervisor(tmp_path: Path) -> None:
    nodes = yaml.safe_load((KIT / "group_vars/default/pvc.yml").read_text())["pvc_nodes"]
    nodes.append({**nodes[2], "hostname": "hv4", "is_coordinator": False, "node_id": 4,
                  "cluster_ip": "10.0.1.4"})
    extra = {"pvc_nodes": nodes, "pvc_routers": ["10.0.0.254"]}
    (tmp_path / "c").mkdir()
    (tmp_path / "h").mkdir()
    coord = render(tmp_path / "c", "hv1", ["frr.conf"], extra)["frr.conf"]
    hyper = render(tmp_path / "h", "hv4", ["frr.conf"], extra)["frr.conf"]
    for conf in (coord, hyper):
        assert frr.dry_run_errors(conf) == "", conf
    # coordinators peer with everyone and reflect hypervisors; hypervisors peer with
    # coordinators only; only coordinators talk to the upstream router
    for peer in ("10.0.1.2", "10.0.1.3", "10.0.1.4"):
        assert f" neighbor {peer} peer-group fabric" in coord
    assert "  neighbor 10.0.1.4 route-reflector-client" in coord
    assert " neighbor 10.0.0.254 peer-group upstream" in coord
    assert "deny 10.0.1.0/24 le 32" in coord
    assert " neighbor 10.0.1.1 peer-group fabric" in hyper
    assert "upstream" not in hyper and "route-reflector-client" not in hyper
    assert "advertise-all-vni" in hyper


@pytest.mark.skipif(shutil.which("ceph-conf") is None, reason="Ceph is not installed")
def test_ceph_conf_names_every_monitor(tmp_path: Path) -> None:
    conf = tmp_path / "ceph.conf"
    render(tmp_path, "hv2", ["ceph.conf"], {"pvc_ceph_settings": {"mon_data_avail_warn": 5}})

    def lookup(key: str) -> str:
        return subprocess.run(["ceph-conf", "-c", str(conf), "--lookup", key],
                              capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()

    assert lookup("fsid") == FSID
    assert lookup("mon_host") == ",".join(
        f"[v2:10.0.2.{n}:3300,v1:10.0.2.{n}:6789]" for n in (1, 2, 3))
    assert lookup("public_network") == "10.0.2.0/24"
    assert lookup("mon_data_avail_warn") == "5"
    assert lookup("osd_pool_default_min_size") == "2"


@pytest.mark.skipif(shutil.which("patroni") is None, reason="Patroni is not installed")
def test_patroni_takes_its_configuration_and_the_bootstrap_script_is_sh(
        tmp_path: Path) -> None:
    password = "it's $ecret \\ \"db\""
    got = render(tmp_path, "hv3", ["patroni.yml", "patroni-bootstrap.sh"],
                 {"pvc_api_database_password": password, "pvc_dns_database_password": "d",
                  "pvc_postgresql_superuser_password": "s\"u",
                  "pvc_postgresql_replication_password": "r"})
    conf = yaml.safe_load(got["patroni.yml"])
    assert conf["name"] == "hv3" and conf["restapi"]["listen"] == "10.0.1.3:8008"
    assert conf["zookeeper"]["hosts"] == ["10.0.1.1:2181", "10.0.1.2:2181", "10.0.1.3:2181"]
    assert conf["postgresql"]["authentication"]["superuser"]["password"] == "s\"u"
    assert conf["bootstrap"]["dcs"]["synchronous_mode"] is True
    # Patroni's own check, in an empty network namespace: it also tries the addresses,
    # so there its only complaints are that no ZooKeeper answers
    checked = subprocess.run(["unshare", "--net", "patroni", "--validate-config",
                              str(tmp_path / "patroni.yml")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert (checked.stdout + checked.stderr).strip().splitlines() == [
        f"zookeeper.hosts.{i} 10.0.1.{i + 1}:2181 didn't pass validation: "
        f"'10.0.1.{i + 1}:2181 is not reachable'" for i in range(3)]
    script = tmp_path / "patroni-bootstrap.sh"
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    # the password reaches psql as one argument, exactly as given
    line = next(ln for ln in got["patroni-bootstrap.sh"].splitlines() if "api_password=" in ln)
    echoed = subprocess.run(["sh", "-c", "printf '%s' " + line.split("api_password=", 1)[1]
                             .rstrip(" \\")], capture_output=True, text=True, check=True)
    assert echoed.stdout == password


def test_pvc_conf_is_one_the_node_daemon_takes(tmp_path: Path) -> None:
    got = render(tmp_path, "hv2", ["pvc.conf"], {
        "pvc_api_secret_key": "k", "pvc_api_database_password": "it's \"x\"",
        "pvc_dns_database_password": "d", "pvc_api_tokens": [{"description": "a", "token": "t"}],
        "pvc_coordinators": ["hv1", "hv2", "hv3"]})
    checked = subprocess.run([sys.executable, "-m", "pvc.node.main", "--check-config",
                              str(tmp_path / "pvc.conf"), "--node", "hv2"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    conf = yaml.safe_load(got["pvc.conf"])
    assert conf["database"]["postgres"]["credentials"]["api"]["password"] == "it's \"x\""
    # the libvirt secret of Ceph's client.admin: one per cluster, from its fsid
    assert conf["ceph"]["secret_uuid"] == str(uuid.uuid5(ANSIBLE_UUID_NAMESPACE,
                                                         f"pvc-ceph-secret-{FSID}"))


@pytest.mark.skipif(not Path(zookeeper.JAVA).exists(), reason="ZooKeeper is not installed")
def test_the_timing_variables_reach_zookeeper_patroni_and_pvc_conf(tmp_path: Path) -> None:
    timing = {"pvc_zookeeper_tick_ms": 2000, "pvc_zookeeper_init_limit": 30,
              "pvc_zookeeper_sync_limit": 10, "pvc_zookeeper_session_timeout": 30,
              "pvc_patroni_ttl": 30, "pvc_patroni_loop_wait": 5,
              "pvc_patroni_retry_timeout": 10, "pvc_takeover_timeout": 120}
    got = render(tmp_path, "hv1", ["zoo.cfg", "patroni.yml", "pvc.conf"], {
        "pvc_api_secret_key": "k", "pvc_api_database_password": "a",
        "pvc_dns_database_password": "d", **timing})
    conf = yaml.safe_load(got["pvc.conf"])
    assert conf["database"]["zookeeper"]["session_timeout"] == 30
    assert conf["timer"]["takeover_timeout"] == 120
    dcs = yaml.safe_load(got["patroni.yml"])["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 5, 10)
    # ZooKeeper itself reads the file (as a one-server ensemble here, on loopback) and
    # reports the timing it took: sessions from 2 to 40 ticks
    port = free_port()
    local = [ln for ln in got["zoo.cfg"].splitlines()
             if not ln.startswith(("server.", "dataDir=", "clientPort="))]
    server = zookeeper.ZkServer(1, tmp_path / "zk", "127.0.0.1", port, {})
    (server.data_dir / "data").mkdir(parents=True)
    server.config_file.write_text("\n".join(
        [*local, f"dataDir={server.data_dir / 'data'}", f"clientPort={port}",
         "clientPortAddress=127.0.0.1", "4lw.commands.whitelist=conf,srvr"]) + "\n")
    with (server.data_dir / "out.log").open("wb") as log:
        proc = subprocess.Popen(server.command(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        zookeeper.wait_serving("127.0.0.1", port, timeout=60)
        served = dict(line.split("=", 1) for line in
                    four_letter("127.0.0.1", port, "conf", timeout=5).splitlines()
                    if "=" in line)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert (served["tickTime"], served["minSessionTimeout"], served["maxSessionTimeout"]) == (
        "2000", "4000", "80000")
    # (a one-server ensemble does not report the limits it has no use for)
    assert {"initLimit=30", "syncLimit=10"} <= set(local)
