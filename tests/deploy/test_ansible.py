"""The Ansible kit (deploy/ansible) on fresh Debian 12 servers: systemd-nspawn targets
booted from their own roots, reaching packages only through the host's apt-cacher-ng.
The playbook first refuses bad variables without touching a server, then builds a
cluster of three (base system, networks, ZooKeeper, Patroni, Ceph, libvirt, the task
broker, FRR, PVC from a package built from this checkout, its daemons, OSDs and a pool);
a VM defined through the API runs and live-migrates; a fourth server added to the
inventory joins as a hypervisor with an OSD and takes the VM; a further run changes
nothing; the rolling upgrade playbook installs a newer build node by node while the VM
keeps running."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
import yaml

from pvc.devcluster import package as debpkg
from pvc.devcluster.guest import image as guest
from pvc.devcluster.guest import xml as guest_xml
from pvc.devcluster.guest.ticks import TickLog, longest_silence, restarts
from pvc.devcluster.targets import lifecycle
from pvc.devcluster.targets.layout import TargetSpec
from tests.deploy.support import (
    API_DB_PASSWORD,
    OSD_FILE,
    OSD_FILE_SIZE,
    REPO,
    Run,
    make_repo,
    node_vars,
    on,
    patroni_members,
    playbook,
    redis_roles,
    set_servers,
    wait_on,
    zookeeper_modes,
    zookeeper_word,
)

pytestmark = pytest.mark.timeout(3600)

VERSION = debpkg.checkout_version(REPO)
VM = "dtvm"
GUEST_DIR = "/var/lib/pvc-test-guest"
TICK_MS = 50
# the servers of the first run; the fourth joins later
FIRST = ["hv1", "hv2", "hv3"]
JOINER = "hv4"
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module")
def spec() -> Iterator[TargetSpec]:
    if os.geteuid() != 0:
        pytest.skip("deployment tests need root: run `sudo ./pvc-dev test`")
    spec = TargetSpec(name="ansible", count=4)
    lifecycle.up(spec)
    try:
        yield spec
    finally:
        lifecycle.down(spec)
        if FIGURES:
            print("\nAnsible figures: " + ", ".join(f"{k} {v:.1f} s"
                                                  for k, v in FIGURES.items()))


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("packages")
    return {"current": debpkg.build(REPO, out),
            "newer": debpkg.build(REPO, out, f"{VERSION}+upgrade.1")}


@pytest.fixture(scope="module")
def repo(spec: TargetSpec, packages: dict[str, Path],
         tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(spec, tmp_path_factory.mktemp("operator"), packages["current"], FIRST)


def untouched(spec: TargetSpec) -> None:
    """Still as the installer left them: no PVC, and no file written by Ansible (each
    template the roles write starts with Ansible's "managed" mark)."""
    for host in spec.hostnames:
        assert on(spec, host, "test -e /etc/pvc && echo yes || echo no").strip() == "no"
        marked = on(spec, host, "grep -l 'Ansible managed' /etc/apt/sources.list /etc/hosts "
                                "/etc/network/interfaces /etc/sudoers.d/* || true")
        assert marked.strip() == "", f"{host} was changed: {marked}"


Change = Callable[[TargetSpec, dict[str, Any]], dict[str, Any]]


def _nodes(change: Callable[[list[dict[str, Any]]], None]) -> Change:
    def make(spec: TargetSpec, networks: dict[str, Any]) -> dict[str, Any]:
        nodes = node_vars(spec, FIRST)
        change(nodes)
        return {"pvc_nodes": nodes}
    return make


def _network(name: str, **values: Any) -> Change:
    def make(spec: TargetSpec, networks: dict[str, Any]) -> dict[str, Any]:
        networks[name].update(values)
        return {"networks": networks}
    return make


def _value(**values: Any) -> Change:
    return lambda spec, networks: values


@pytest.mark.parametrize(("change", "named"), [
    (_nodes(lambda n: n[2].update(is_coordinator=False)),
     "pvc_nodes: 2 coordinators (hv1, hv2); a cluster needs 1, 3 or 5"),
    (_nodes(lambda n: n[1].update(ipmi_host="")),
     "pvc_nodes entry hv2: it needs a lower-case hostname, a node_id from 1, upstream_ip, "
     "cluster_ip and storage_ip, and the fencing BMC's ipmi_host, ipmi_user and "
     "ipmi_password (missing or empty: ipmi_host)"),
    (_nodes(lambda n: n[1].update(cluster_ip="10.88.1.7")),
     "pvc_nodes entry hv2 (node_id 2): PVC takes a node's id from the digits its hostname "
     "ends in, and its address on each network as the network's address plus that id: "
     "cluster_ip is 10.88.1.7, not 10.88.1.2"),
    (_network("storage", type="bond"), "networks.storage: type bond with device ens6"),
    (_network("cluster", type="infiniband"), "networks.cluster: type infiniband"),
    (_value(pvc_fence_failed_action="reboot"), "pvc_fence_successful_action and "
                                               "pvc_fence_failed_action are migrate or none"),
    (_value(pvc_api_secret_key=""), "pvc_api_secret_key is empty"),
    (_value(pvc_zookeeper_session_timeout=30),
     "pvc_zookeeper_session_timeout and pvc_patroni_ttl are whole seconds from 2 to 40 of "
     "ZooKeeper's ticks (pvc_zookeeper_tick_ms, from 50 to 10000 ms, now 250: 0.5 to 10.0 s; "
     "now 30 and 10)"),
    (_value(pvc_dns_database_name="pvc-dns"),
     "pvc_dns_database_name is 'pvc-dns': a database or user name is lower-case letters"),
    (_value(pvc_package_file="/nonexistent/pvc.deb"),
     "pvc_package_file '/nonexistent/pvc.deb' is not a file on this machine"),
])
def test_bad_variables_fail_before_any_server_is_touched(
        spec: TargetSpec, repo: Path, change: Change, named: str) -> None:
    networks = yaml.safe_load((repo / "group_vars/test/base.yml").read_text())["networks"]
    run = playbook(spec, repo, extra=change(spec, networks))
    assert run.rc != 0
    assert named in " ".join(run.output.split()), run.output[-3000:]
    untouched(spec)


def converge(spec: TargetSpec, repo: Path, *args: str) -> Run:
    started = time.monotonic()
    run = playbook(spec, repo, *args)
    assert run.rc == 0, run.output[-4000:]
    FIGURES[f"run {len(FIGURES) + 1}"] = time.monotonic() - started
    return run


def test_the_first_run_builds_every_server(spec: TargetSpec, repo: Path) -> None:
    for host in FIRST:  # each server's OSD "disk"
        on(spec, host, f"truncate -s {OSD_FILE_SIZE} {OSD_FILE}")
    run = converge(spec, repo, "-e", "do_bootstrap=yes")
    assert set(run.stats()) == {f"{h}.deploy.test" for h in FIRST}
    for host in FIRST:
        assert on(spec, host, "hostname").strip() == host
        # the cluster and storage networks are up with this server's addresses
        for net in ("cluster", "storage"):
            assert str(spec.address(host, net)) in on(spec, host, "ip -br -4 addr")
            # reachable there from the host's side of the bridge (its SSH server answers)
            socket.create_connection((str(spec.address(host, net).ip), 22), timeout=5).close()
        assert f"{spec.address('hv2', 'cluster').ip}\thv2.pvc.local" in on(
            spec, host, "cat /etc/hosts")
        assert on(spec, host, "head -n 1 /etc/hosts").strip() == "# Ansible managed"
        assert on(spec, host, "cat /etc/timezone").strip() == "Etc/UTC"
        # packages came from the site's mirror (the apt cache), as the variables say
        assert spec.mirror in on(spec, host, "cat /etc/apt/sources.list")
        assert "PermitRootLogin no" in on(spec, host, "cat /etc/ssh/sshd_config.d/pvc.conf")
        # PVC: the package built from this checkout, its commands, a valid pvc.conf
        assert on(spec, host, "dpkg-query -W -f '${Version}' pvc") == VERSION
        assert f"version {VERSION}" in on(spec, host, "pvc --version")
        assert on(spec, host, "stat -c %a /etc/pvc/pvc.conf").strip() == "600"
        checked = on(spec, host, f"pvcnoded --check-config /etc/pvc/pvc.conf --node {host}")
        assert "valid configuration of cluster test" in checked
        conf = on(spec, host, "cat /etc/pvc/pvc.conf")
        assert f"hostname: \"{host}-lom.deploy.test\"" in conf
        assert "domain_type: \"qemu\"" in conf
    # libvirt: each node's libvirtd answers the others on its cluster address, with a
    # host UUID of its own (live migration needs both)
    uuids = set()
    for host in FIRST:
        uri = f"qemu+tcp://{spec.address(host, 'cluster').ip}/system"
        caps = subprocess.run(["virsh", "-c", uri, "capabilities"], capture_output=True,
                              text=True, timeout=60, check=True).stdout
        assert "<domain type='qemu'/>" in caps
        found = re.search(r"<uuid>([0-9a-f-]+)</uuid>", caps)
        assert found is not None
        uuids.add(found.group(1))
    assert len(uuids) == len(FIRST)
    # ZooKeeper: one ensemble of the three coordinators on their cluster addresses
    modes = zookeeper_modes([str(spec.address(h, "cluster").ip) for h in FIRST])
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    leader = next(a for a, m in modes.items() if m == "leader")
    assert "zk_synced_followers\t2" in zookeeper_word(leader, "mntr")
    # the task broker: hv1's Redis the master, the others its replicas, and every
    # coordinator's Sentinel naming hv1 as the master
    addresses = [str(spec.address(h, "cluster").ip) for h in FIRST]
    roles = redis_roles(addresses)
    assert roles == {addresses[0]: "master", addresses[1]: "slave", addresses[2]: "slave"}
    for address in addresses:
        sentinel = redis.Redis(host=address, port=26379, socket_timeout=5,
                               decode_responses=True)
        assert sentinel.sentinel_get_master_addr_by_name("pvc") == (addresses[0], 6379)
    # PostgreSQL under Patroni: a leader, its synchronous standby and a replica; the
    # provisioner's and the DNS aggregator's databases, PowerDNS's tables in the latter
    members = patroni_members(addresses)
    assert sorted(members.values()) == ["leader", "replica", "sync_standby"], members
    leader = str(spec.address(next(n for n, r in members.items() if r == "leader"),
                              "cluster").ip)
    with psycopg.connect(host=leader, dbname="pvcapi", user="pvcapi",
                         password=API_DB_PASSWORD, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("pvcapi",)
    with psycopg.connect(host=leader, dbname="pvcdns", user="pvcdns",
                         password="dns-db-secret", connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM domains").fetchone() == (0,)
        assert conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'records'"
                            ).fetchone() == ("pvcdns",)
    for host in FIRST:
        # Debian's own services stay out of the way: no default cluster, no PowerDNS
        assert on(spec, host, "pg_lsclusters -h").strip() == ""
        assert on(spec, host, "systemctl is-enabled pdns || true").strip() == "masked"
    # PVC: every node runs, one coordinator is primary (seen through each node's `pvc`)
    for host in FIRST:
        nodes = json.loads(on(spec, host, "pvc node list --format json"))
        assert sorted(n["name"] for n in nodes) == FIRST
        assert {n["daemon_state"] for n in nodes} == {"run"}, nodes
        assert [n["coordinator_state"] for n in nodes].count("primary") == 1, nodes
    # Ceph: a monitor per coordinator in quorum, an OSD per node (made through PVC, which
    # records it), the pool, HEALTH_OK
    quorum = json.loads(on(spec, "hv1", "ceph quorum_status -f json"))
    assert sorted(quorum["quorum_names"]) == FIRST
    osds = json.loads(on(spec, "hv2", "pvc storage osd list --format json"))
    assert sorted((o["node"], o["device"]) for o in osds) == [
        (h, OSD_FILE) for h in FIRST]
    assert [p["name"] for p in json.loads(
        on(spec, "hv3", "pvc storage pool list --format json"))] == ["vms"]
    wait_on(spec, "hv1", "ceph health", lambda out: out.strip() == "HEALTH_OK")
    # a managed network: its gateway comes up on the primary, its VXLAN on every node
    on(spec, "hv2", "pvc network add 100 -d deploytest -p managed --domain net100.deploy.test "
                    "--ipnet 10.100.0.0/24 --gateway 10.100.0.1 --dhcp "
                    "--dhcp-start 10.100.0.100 --dhcp-end 10.100.0.199")
    primary = next(n["name"] for n in nodes if n["coordinator_state"] == "primary")
    wait_on(spec, primary, "ip -br -4 addr", lambda out: " 10.100.0.1/24" in out)
    for host in FIRST:
        wait_on(spec, host, "ip -br link", lambda out: "vxlan100" in out)
        # FRR's EVPN: each node floods the VNI to the two others
        flooded = [f"  {spec.address(h, 'cluster').ip} flood" for h in FIRST
                   if h != host]
        wait_on(spec, host, "vtysh -c 'show evpn vni 100'",
                lambda out: all(line in out for line in flooded))  # noqa: B023
        # the base role's kernel settings are in force (gateways forward)
        assert on(spec, host, "cat /proc/sys/net/ipv4/ip_forward").strip() == "1"


def api(spec: TargetSpec) -> httpx.Client:
    """The cluster's API, on the primary's upstream floating address."""
    return httpx.Client(base_url=f"http://{spec.network('upstream')[250]}:7370/api/v1",
                        headers={"X-Api-Key": "test-token"}, timeout=300)


def console(spec: TargetSpec, host: str) -> Path:
    """The test VM's console log on a server, seen from this host."""
    return spec.rootfs(host) / "var/log/libvirt" / f"{VM}.log"


def osds_up_since(spec: TargetSpec) -> dict[int, int]:
    """Each up OSD and the OSD map epoch it came up at (a change means it went down)."""
    dump = json.loads(on(spec, "hv1", "ceph osd dump -f json"))
    return {o["osd"]: o["up_from"] for o in dump["osds"] if o["up"]}


def vm_node(spec: TargetSpec) -> tuple[str, str]:
    with api(spec) as client:
        found = client.get(f"/vm/{VM}").json()[0]
    return found["node"], found["state"]


def test_a_vm_runs_on_one_server_and_live_migrates_to_another(
        spec: TargetSpec, repo: Path) -> None:
    made = guest.build_guest(spec.cache_dir / "guest")
    for host in spec.hostnames:  # the tiny guest's kernel and initrd on every server
        where = spec.rootfs(host) / GUEST_DIR.lstrip("/")
        where.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made.kernel, where / "vmlinuz")
        shutil.copyfile(made.initrd, where / "initrd")
    image = guest.GuestImage(Path(GUEST_DIR) / "vmlinuz", Path(GUEST_DIR) / "initrd",
                             cmdline=made.cmdline)
    conf = on(spec, "hv1", "cat /etc/pvc/pvc.conf")
    secret = re.search(r'secret_uuid: "([0-9a-f-]{36})"', conf)
    assert secret is not None, conf
    # its disk on Ceph, reached with the libvirt secret each node daemon defined
    on(spec, "hv1", f"pvc storage volume add vms {VM}-disk 64M")
    disk = guest_xml.Disk(f"vms/{VM}-disk", "vda", kind="rbd", auth_user="admin",
                          hosts=tuple(str(spec.address(h, "storage").ip)
                                      for h in FIRST),
                          secret_uuid=secret.group(1))
    xml = guest_xml.domain_xml(VM, str(uuid.uuid4()), 128, 1, image, tick_ms=TICK_MS,
                               console_log=Path(f"/var/log/libvirt/{VM}.log"), disks=[disk],
                               write_marker="DEPLOYED")
    with api(spec) as client:
        r = client.post("/vm", data={"xml": xml}, params={"node": "hv1"})
        assert r.status_code == 200, r.text
        r = client.post(f"/vm/{VM}/state", params={"state": "start", "wait": "true"})
        assert r.status_code == 200, r.text
        with TickLog(console(spec, "hv1")) as first, TickLog(console(spec, "hv2")) as second:
            deadline = time.monotonic() + 120
            while len(first.seen) < 20 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(first.seen) >= 20, console(spec, "hv1").read_text()[-2000:]
            r = client.post(f"/vm/{VM}/node", params={"action": "migrate", "node": "hv2",
                                                       "wait": "true", "force_live": "true"})
            assert r.status_code == 200, r.text
            time.sleep(2)
    assert vm_node(spec) == ("hv2", "start")
    state = subprocess.run(
        ["virsh", "-c", f"qemu+tcp://{spec.address('hv2', 'cluster').ip}/system", "domstate",
         VM], capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert state == "running"
    # the guest went on counting on hv2 where it stopped on hv1
    assert second.seen and restarts([first, second]) == []
    FIGURES["live migration silence"] = longest_silence([first, second])


def test_a_server_added_to_the_inventory_joins_as_a_hypervisor(
        spec: TargetSpec, repo: Path) -> None:
    """hv4 in the inventory and pvc_nodes (not a coordinator), the playbook run again
    without bootstrap: it joins PVC, its disk becomes an OSD, it takes part in the EVPN
    fabric and the VM live-migrates to it; nothing of the cluster is made again."""
    fsid = on(spec, "hv1", "ceph fsid").strip()
    on(spec, JOINER, f"truncate -s {OSD_FILE_SIZE} {OSD_FILE}")
    up_before = osds_up_since(spec)
    set_servers(spec, repo, spec.hostnames)
    run = converge(spec, repo)
    assert set(run.stats()) == {f"{h}.deploy.test" for h in spec.hostnames}
    # the same Ceph cluster, ZooKeeper ensemble and databases: the joiner is in none
    assert on(spec, JOINER, "ceph fsid").strip() == fsid
    modes = zookeeper_modes([str(spec.address(h, "cluster").ip) for h in FIRST])
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    assert zookeeper_word(str(spec.address(JOINER, "cluster").ip), "srvr") == ""
    members = patroni_members([str(spec.address(h, "cluster").ip) for h in FIRST])
    assert sorted(members) == FIRST, members
    # PVC: four nodes run, the joiner a hypervisor (client), still one primary
    nodes = json.loads(on(spec, JOINER, "pvc node list --format json"))
    assert sorted(n["name"] for n in nodes) == spec.hostnames
    assert {n["daemon_state"] for n in nodes} == {"run"}, nodes
    states = {n["name"]: n["coordinator_state"] for n in nodes}
    assert states[JOINER] == "client" and list(states.values()).count("primary") == 1, states
    # its disk is an OSD PVC made and knows, and Ceph is healthy with four
    osds = json.loads(on(spec, "hv1", "pvc storage osd list --format json"))
    assert sorted((o["node"], o["device"]) for o in osds) == [
        (h, OSD_FILE) for h in spec.hostnames]
    assert json.loads(on(spec, "hv1", "ceph osd stat -f json"))["num_up_osds"] == 4
    # the others' daemons restarted for the new pvc.conf; their OSDs never went down
    assert {osd: since for osd, since in osds_up_since(spec).items()
            if osd in up_before} == up_before
    wait_on(spec, "hv1", "ceph health", lambda out: out.strip() == "HEALTH_OK")
    # the managed network reaches it: its VXLAN, flooded to and from the others
    wait_on(spec, JOINER, "ip -br link", lambda out: "vxlan100" in out)
    joiner = str(spec.address(JOINER, "cluster").ip)
    wait_on(spec, JOINER, "vtysh -c 'show evpn vni 100'", lambda out: all(
        f"  {spec.address(h, 'cluster').ip} flood" in out for h in FIRST))
    wait_on(spec, "hv1", "vtysh -c 'show evpn vni 100'",
            lambda out: f"  {joiner} flood" in out)
    # and it is a hypervisor the VM can live on: moved there for good, live
    with api(spec) as client, TickLog(console(spec, "hv2"), from_end=True) as before, \
            TickLog(console(spec, JOINER)) as after:
        r = client.post(f"/vm/{VM}/node", params={"action": "move", "node": JOINER,
                                                   "wait": "true", "force_live": "true"})
        assert r.status_code == 200, r.text
        time.sleep(2)
    assert vm_node(spec) == (JOINER, "start")
    assert after.seen and restarts([before, after]) == []


def test_a_further_run_changes_nothing(spec: TargetSpec, repo: Path) -> None:
    run = converge(spec, repo)
    assert set(run.changed().values()) == {0}, run.changed_tasks()


def test_a_rolling_upgrade_keeps_the_vm_running(
        spec: TargetSpec, repo: Path, packages: dict[str, Path]) -> None:
    newer = f"{VERSION}+upgrade.1"
    up_before = osds_up_since(spec)
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(TickLog(console(spec, h), from_end=True))
                for h in spec.hostnames]
        started = time.monotonic()
        run = playbook(spec, repo, "-e", f"pvc_package_file={packages['newer']}",
                       book="upgrade-pvc.yml")
        FIGURES["rolling upgrade"] = time.monotonic() - started
        time.sleep(2)
    assert run.rc == 0, run.output[-4000:]
    for host in spec.hostnames:
        assert on(spec, host, "dpkg-query -W -f '${Version}' pvc") == newer
        info = json.loads(on(spec, host, f"pvc node info {host} --format json"))
        assert (info["pvc_version"], info["daemon_state"], info["domain_state"]) == (
            newer, "run", "ready")
    # the VM kept running through every flush and ready: it counted on without a new
    # boot, and its longest silence is the upgrade's VM downtime
    assert vm_node(spec)[1] == "start"
    assert sum(len(log.seen) for log in logs) > 0
    assert restarts(logs) == []
    FIGURES["VM downtime in the rolling upgrade"] = longest_silence(logs)
    # nor was any OSD down: the daemons' restarts leave systemd's OSD units running
    assert osds_up_since(spec) == up_before
