"""The foundation on a real 3-node development cluster: registration, one primary,
floating addresses, the API and its key, planned handover, power loss of the primary,
a killed node daemon, bad input, backup/restore and the node log."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from datetime import datetime

import httpx
import libvirt
import pytest

from pvc.client.provisioner.api import ProvisionerApi
from pvc.common.errors import InvalidArgument, NotFound, PVCError, Unauthorized
from pvc.devcluster import network as netsetup
from pvc.devcluster import patroni
from pvc.state import tree
from pvc.state.schema import CURRENT
from tests.system.conftest import DevCluster, HolderSampler

pytestmark = pytest.mark.system
DEAD_AFTER = 4  # fence_intervals x keepalive_interval of the sample pvc.conf, in seconds


def non_volatile(data: dict[str, bytes]) -> dict[str, bytes]:
    """Keys that nothing rewrites on its own (the schema's runtime figures excluded)."""
    return {p: v for p, v in data.items() if not CURRENT.is_volatile(p)}


def test_every_node_runs_and_exactly_one_is_primary(devcluster_3: DevCluster) -> None:
    nodes = devcluster_3.api().node_list()
    assert sorted(n["name"] for n in nodes) == ["hv1", "hv2", "hv3"]
    assert all(n["daemon_state"] == "run" for n in nodes)
    assert all(n["domain_state"] == "ready" for n in nodes)
    states = sorted(n["coordinator_state"] for n in nodes)
    assert states == ["primary", "secondary", "secondary"]
    for n in nodes:
        assert n["cpu_count"] >= 1 and n["memory"]["total"] > 0
        assert n["memory"]["used"] + n["memory"]["free"] == n["memory"]["total"]
        assert n["kernel"] and n["arch"] and n["pvc_version"]


def test_floating_addresses_live_only_in_the_primary(devcluster_3: DevCluster) -> None:
    primary = devcluster_3.primary()
    holders = devcluster_3.holders()
    assert holders[primary] == devcluster_3.floating()
    assert all(not held for node, held in holders.items() if node != primary)
    status = devcluster_3.api().status()
    assert status["primary_node"] == primary
    assert status["upstream_ip"] == str(devcluster_3.spec.floating_address("upstream"))


def test_api_answers_on_the_floating_address_and_checks_the_key(
        devcluster_3: DevCluster) -> None:
    url = devcluster_3.spec.api_url()
    assert httpx.get(url + "/", headers={"X-Api-Key": devcluster_3.spec.api_key}).status_code \
        == 200
    for headers in ({}, {"X-Api-Key": "wrong"}):
        r = httpx.get(url + "/node", headers=headers)
        assert r.status_code == 401 and "message" in r.json()
    with pytest.raises(Unauthorized):
        devcluster_3.api(key="wrong").node_list()
    metrics = httpx.get(url + "/metrics")
    assert metrics.status_code == 200 and "hv1" in metrics.text


def test_cli_node_list_and_info(devcluster_3: DevCluster) -> None:
    out = devcluster_3.pvc("node", "list", "-f", "json").stdout
    assert {n["name"] for n in json.loads(out)} == {"hv1", "hv2", "hv3"}
    pretty = devcluster_3.pvc("node", "list").stdout
    assert "hv3" in pretty and "run" in pretty
    info = devcluster_3.pvc("node", "info", "hv2").stdout
    assert "hv2" in info


def test_each_node_is_a_host_of_its_own(devcluster_3: DevCluster) -> None:
    """Own hostname (without renaming the machine) and own libvirtd on its cluster address."""
    machine = socket.gethostname()
    uuids = set()
    for node in devcluster_3.spec.node_names:
        out = devcluster_3.dev("exec", node, "--", "hostname").stdout.strip()
        assert out == node
        addr = devcluster_3.spec.node_address(node, "cluster").ip
        conn = libvirt.open(f"qemu+tcp://{addr}/system")
        try:
            assert conn.getHostname().split(".")[0] == node
            uuids.add(conn.getCapabilities().split("<uuid>")[1].split("<")[0])
        finally:
            conn.close()
        info = devcluster_3.dev("exec", node, "--", "pvc", "-q", "-c", "local", "node", "info",
                                node, "-f", "json").stdout
        assert json.loads(info)["name"] == node
    assert len(uuids) == devcluster_3.spec.nodes  # migration needs distinct host UUIDs
    assert socket.gethostname() == machine


def test_every_node_checked_its_own_bmc_at_start(devcluster_3: DevCluster) -> None:
    """Each daemon asked its BMC (ipmi_sim, from inside the node) at start-up and recorded
    that it answers, so it may be fenced."""
    for node in devcluster_3.spec.node_names:
        record = devcluster_3.store.read("node.ipmi", node=node)
        assert record["hostname"] == f"{node}-lom"  # the BMC names of the nodes' /etc/hosts
        assert (record["reachable"], record["fencing"]) == (True, True), (node, record)


def test_bad_input_is_refused_and_changes_nothing(devcluster_3: DevCluster) -> None:
    api = devcluster_3.api()
    before = non_volatile(tree.read_all(devcluster_3.store))
    with pytest.raises(NotFound):
        api.node_info("hv9")
    with pytest.raises(InvalidArgument):
        api.node_coordinator_state("hv2", "sideways")
    url = devcluster_3.spec.api_url()
    key = {"X-Api-Key": devcluster_3.spec.api_key}
    r = httpx.post(url + "/node/hv9/coordinator-state", params={"state": "primary"}, headers=key)
    assert r.status_code == 404 and "hv9" in r.json()["message"]
    r = httpx.post(url + "/node/hv2/coordinator-state", params={"state": "bogus"}, headers=key)
    assert r.status_code == 400 and "state" in r.json()["message"]
    r = httpx.get(url + "/node/..%2Fconfig", headers=key)
    assert r.status_code in (400, 404) and isinstance(r.json(), dict)
    res = devcluster_3.pvc("node", "info", "hv9", check=False)
    assert res.returncode != 0 and "hv9" in res.stderr
    assert non_volatile(tree.read_all(devcluster_3.store)) == before


def test_planned_handover_never_shows_two_holders(devcluster_3: DevCluster) -> None:
    old = devcluster_3.primary()
    with HolderSampler(devcluster_3) as sampler:
        devcluster_3.pvc("node", "secondary", old, "--wait")
        new = devcluster_3.wait_for("a new primary", lambda: (p := devcluster_3.primary())
                                    != old and p)
        # and back, directed at the old primary this time
        devcluster_3.pvc("node", "primary", old, "--wait")
        devcluster_3.wait_for("the old primary back", lambda: devcluster_3.primary() == old)
    assert sampler.samples > 20
    assert not sampler.double, sampler.double[:3]
    assert {old, new} <= sampler.seen_holders
    assert devcluster_3.holders()[old] == devcluster_3.floating()
    assert devcluster_3.api().status()["primary_node"] == old
    msg = devcluster_3.pvc("node", "primary", old).stdout
    assert "already" in msg


def logged_since(dc: DevCluster, text: str, since: float, but: str = "") -> bool:
    """Whether a coordinator (other than `but`) logged a line holding `text` at or after
    `since` (the daemons' log lines start with their local time)."""
    api = dc.api()
    for node in dc.spec.coordinator_names:
        if node == but:
            continue
        for line in api.node_log(node, 400):
            with contextlib.suppress(ValueError):
                stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if text in line and stamp >= since - 1:
                    return True
    return False


def fenced_and_back(dc: DevCluster, victim: str, killed_at: float) -> None:
    """What follows a SIGKILL of a node's daemon since fencing: the node is marked dead,
    fenced (powered off and on), and its daemon returns at boot, leaving the node flushed
    until `node ready`. Judged from the coordinators' logs, not from a sampled state: dead
    lasts only the saving throws, about 2 s."""
    dc.wait_for(f"{victim} to be marked dead", lambda: logged_since(
        dc, f"Node {victim} is dead: fencing it", killed_at, victim), timeout=30)
    dc.wait_for(f"{victim} to be fenced", lambda: logged_since(
        dc, f"Fenced node {victim} in", killed_at, victim), timeout=60)
    api = dc.api()
    dc.wait_for(f"{victim} back in run", lambda: (
        (n := api.node_info(victim))["daemon_state"] == "run"
        and n["domain_state"] == "flushed"), timeout=120)
    dc.pvc("node", "ready", victim, "--wait", timeout=300)
    assert api.node_info(victim)["domain_state"] == "ready"


def test_requests_during_handovers_get_clear_answers(devcluster_3: DevCluster) -> None:
    """Requests in flight while the primary moves three times (domain-state with
    wait=true among them, as the fuzzing that found a 500 sent them): never a 500; and a
    client's flush with wait, which sets a state, rides the handover out."""
    dc = devcluster_3
    url, headers = dc.spec.api_url(), {"X-Api-Key": dc.spec.api_key}
    victim = next(n for n in ("hv3", "hv2") if n != dc.primary())
    other = next(n for n in dc.spec.node_names if n != victim)  # ready: stays ready
    statuses: Counter[int | str] = Counter()
    bad: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=20) as http:
            while not stop.is_set():
                for method, path, params in (
                        ("GET", "/status", {}), ("GET", "/node", {}),
                        ("POST", f"/node/{other}/domain-state",
                         {"state": "ready", "wait": "true"}),
                        ("GET", f"/node/{victim}", {})):
                    try:
                        r = http.request(method, path, params=params)
                    except httpx.TransportError as exc:  # the address moving
                        statuses[type(exc).__name__] += 1
                        continue
                    statuses[r.status_code] += 1
                    if r.status_code >= 500 and r.status_code != 503:
                        bad.append(f"{method} {path} -> {r.status_code}: {r.text[:200]}")
                    elif r.status_code == 503 and "Retry-After" not in r.headers:
                        bad.append(f"{method} {path} -> 503 without Retry-After")

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            old = dc.primary()
            handover = threading.Thread(target=lambda o=old: dc.pvc(
                "node", "secondary", o, "--wait", timeout=120), daemon=True)
            handover.start()
            with dc.api() as client:  # while the API moves: retried until answered
                assert victim in client.node_domain_state(victim, "flush", wait=True)
                handover.join(120)
                dc.wait_for("a new primary", lambda o=old: (p := dc.primary()) != o and p,
                            timeout=30)
                assert victim in client.node_domain_state(victim, "ready", wait=True)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not bad, bad[:5]
    assert statuses[200] > 10, statuses
    assert dc.api().node_info(victim)["domain_state"] == "ready"


def test_killed_node_daemon_is_seen_silent_and_rejoins(devcluster_3: DevCluster) -> None:
    victim = next(n for n in ("hv3", "hv2") if n != devcluster_3.primary())
    killed_at = time.time()
    devcluster_3.dev("service", victim, "pvcnoded", "kill")
    fenced_and_back(devcluster_3, victim, killed_at)


def test_primary_cut_off_from_zookeeper_gives_up_at_once(devcluster_3: DevCluster) -> None:
    """Its cluster link down, the primary's session is suspended: it drops the addresses
    and the API before anyone else takes over, and returns as a secondary."""
    old = devcluster_3.primary()
    ns = devcluster_3.spec.netns(old)
    with HolderSampler(devcluster_3) as sampler:
        netsetup.ip("-n", ns, "link", "set", "cluster", "down")
        try:
            devcluster_3.wait_for(f"{old} to drop its addresses",
                                  lambda: not devcluster_3.holders()[old], timeout=10)
            new = devcluster_3.wait_for(
                "a new primary", lambda: (p := devcluster_3.api(timeout=2).status()
                                          ["primary_node"]) not in (old, "none") and p,
                timeout=30)
        finally:
            netsetup.ip("-n", ns, "link", "set", "cluster", "up")
    assert not sampler.double, sampler.double[:3]
    assert devcluster_3.holders()[new] == devcluster_3.floating()
    api = devcluster_3.api()
    devcluster_3.wait_for(f"{old} back as a secondary", lambda: (
        (n := api.node_info(old))["daemon_state"] == "run"
        and n["coordinator_state"] == "secondary"), timeout=60)
    assert devcluster_3.primary() == new
    assert not devcluster_3.holders()[old]


def test_killed_primary_daemon_leaves_no_addresses(devcluster_3: DevCluster) -> None:
    """SIGKILL gives the daemon no chance to clean up; the addresses go anyway (their
    keeper exits when the daemon's pipe closes) and the API with them."""
    old = devcluster_3.primary()
    with HolderSampler(devcluster_3) as sampler:
        killed_at = time.time()
        devcluster_3.dev("service", old, "pvcnoded", "kill")
        devcluster_3.wait_for(f"{old} to drop its addresses",
                              lambda: not devcluster_3.holders()[old], timeout=5)
        new = devcluster_3.wait_for(
            "a new primary", lambda: (p := devcluster_3.api(timeout=2).status()
                                      ["primary_node"]) not in (old, "none") and p, timeout=30)
    assert not sampler.double, sampler.double[:3]
    assert devcluster_3.holders()[new] == devcluster_3.floating()
    api = devcluster_3.api()
    # the new primary corrects the dead holder's role at once, then it is fenced
    assert api.node_info(old)["coordinator_state"] == "secondary"
    fenced_and_back(devcluster_3, old, killed_at)


def test_graceful_stop_of_the_primary_daemon_hands_over(devcluster_3: DevCluster) -> None:
    """SIGTERM: shutdown, relinquish, stop; the node is not mistaken for a dead one."""
    old = devcluster_3.primary()
    api = devcluster_3.api()
    with HolderSampler(devcluster_3) as sampler:
        devcluster_3.dev("service", old, "pvcnoded", "stop")
        info = api.node_info(old)
        assert info["daemon_state"] == "stop" and info["coordinator_state"] == "secondary"
        new = devcluster_3.wait_for("a new primary", lambda: (p := devcluster_3.primary())
                                    != old and p, timeout=30)
    assert not sampler.double, sampler.double[:3]
    assert not devcluster_3.holders()[old]
    time.sleep(DEAD_AFTER + 1)
    assert api.node_info(old)["daemon_state"] == "stop"
    devcluster_3.dev("service", old, "pvcnoded", "start")
    devcluster_3.wait_for(f"{old} back in run",
                          lambda: api.node_info(old)["daemon_state"] == "run", timeout=60)
    assert devcluster_3.primary() == new


def test_node_log_holds_daemon_lines(devcluster_3: DevCluster) -> None:
    lines = devcluster_3.api().node_log("hv1", 50)
    assert 0 < len(lines) <= 50
    assert any("hv1" in line for line in lines)
    out = devcluster_3.pvc("node", "log", "hv1", "--lines", "5").stdout
    assert 1 <= len([x for x in out.splitlines() if x.strip()]) <= 6


def test_init_overwrite_on_a_live_cluster_recovers(devcluster_3: DevCluster) -> None:
    primary = devcluster_3.primary()
    devcluster_3.pvc("cluster", "init", "--overwrite", "-y")
    api = devcluster_3.api()

    def recovered() -> bool:
        status = api.status()
        nodes = api.node_list()
        # the primary's Ceph publisher adopts Ceph's OSDs and pools again (one transaction
        # a round): until it has, the tree is still changing under the next test's backup
        osds = devcluster_3.store.zk.get_children("/ceph/osds")
        return (status["primary_node"] == primary and status["upstream_ip"] ==
                str(devcluster_3.spec.floating_address("upstream"))
                and sorted(n["daemon_state"] for n in nodes) == ["run"] * 3
                and len(osds) == 3)

    devcluster_3.wait_for("every node re-registered and the primary re-published", recovered,
                          timeout=30)


def test_backup_restore_round_trip(devcluster_3: DevCluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    backup = tmp_path / "backup.json"
    devcluster_3.pvc("cluster", "backup", "-f", str(backup))
    saved = json.loads(backup.read_text())
    devcluster_3.pvc("cluster", "maintenance", "on")
    assert devcluster_3.api().status()["maintenance"] == "true"
    devcluster_3.pvc("cluster", "restore", "-f", str(backup), "-y")
    assert devcluster_3.api().status()["maintenance"] == "false"
    current = tree.read_all(devcluster_3.store)
    wanted = {p: v.encode() for p, v in saved["keys"].items()}
    assert non_volatile(current) == non_volatile(wanted)


def test_power_off_primary_elects_a_new_one(devcluster_3: DevCluster) -> None:
    old = devcluster_3.primary()
    with HolderSampler(devcluster_3) as sampler:
        started = time.monotonic()
        devcluster_3.dev("power", old, "off")
        assert "off" in devcluster_3.dev("power", old, "status").stdout
        new = devcluster_3.wait_for(
            "a new primary with a working API",
            lambda: (p := devcluster_3.api(timeout=2).status()["primary_node"]) not in
            (old, "none") and p, timeout=60)
        elapsed = time.monotonic() - started
    assert not sampler.double
    assert devcluster_3.holders()[new] == devcluster_3.floating()
    assert elapsed < 30
    devcluster_3.dev("power", old, "on")
    api = devcluster_3.api()
    devcluster_3.wait_for(f"{old} back in run",
                          lambda: api.node_info(old)["daemon_state"] == "run", timeout=90)
    assert api.status()["primary_node"] == new


def add_template(dc: DevCluster, name: str) -> bool:
    """Whether the API took a new system template (False: it could not, yet)."""
    api = ProvisionerApi(dc.api(timeout=15))
    try:
        api.system_template_add(name, vcpus=1, vram=256, serial=True, vnc=False)
    except (PVCError, httpx.HTTPError):
        return False
    return True


def test_provisioner_data_survive_the_loss_of_the_database_leader(
        devcluster_3: DevCluster) -> None:
    """PostgreSQL under Patroni: the leader's node is powered off; a new leader takes
    writes within seconds, reached through the same API, and what was committed is there."""
    dc = devcluster_3
    roles = dc.wait_for("a Patroni leader and a synchronous standby", lambda: (
        r := patroni.roles(dc.spec)) and "leader" in r.values() and "sync_standby" in r.values()
        and r, timeout=180, interval=1)
    leader = next(n for n, role in roles.items() if role == "leader")
    dc.wait_for("the provisioner's database ready", lambda: add_template(dc, "before"),
                timeout=60, interval=1)
    dc.dev("power", leader, "off")
    try:
        started = time.monotonic()
        dc.wait_for("a write on the new leader", lambda: add_template(dc, "after"),
                    timeout=90, interval=0.5)
        elapsed = time.monotonic() - started
        roles = patroni.roles(dc.spec)
        assert roles.get(leader) != "leader" and "leader" in roles.values(), roles
        listed = {t["name"] for t in ProvisionerApi(dc.api()).system_template_list()}
        assert {"before", "after"} <= listed
        assert elapsed < 45, f"writes came back after {elapsed:.1f} s"
    finally:
        dc.dev("power", leader, "on")
        dc.wait_healthy(180)
        dc.pvc("node", "ready", leader, "--wait")
