"""VMs on the real libvirt/QEMU of each development node, with real tiny guests whose
serial console shows a boot marker and a counter: lifecycle, live migration, flush and
ready, self-healing, and refusals of bad input."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import libvirt
import pytest

from pvc.devcluster import demo
from pvc.state import tree
from tests.system.conftest import SHUTDOWN_TIMEOUT, DevCluster
from tests.system.vmhelpers import (
    api,
    boots,
    console,
    counters,
    define,
    info,
    last_counter,
    post,
    running_on,
    wait_booted,
    wait_counter_above,
    wait_running_on,
)

pytestmark = pytest.mark.system


def test_demo_vm_counts_in_vm_log(devcluster_3: DevCluster) -> None:
    """`pvc-dev up` defined and started the demo VM; its counter advances."""
    vm = info(devcluster_3, "demo")
    assert vm["state"] == "start" and vm["node"] == "hv1"
    assert running_on(devcluster_3, vm["uuid"]) == ["hv1"]
    wait_booted(devcluster_3, "demo")
    first = last_counter(devcluster_3, "demo")
    wait_counter_above(devcluster_3, "demo", first + 1)
    out = devcluster_3.pvc("vm", "log", "demo", "--lines", "20").stdout
    assert "pvc-counter" in out


def test_live_migration_keeps_the_guest_running(devcluster_3: DevCluster) -> None:
    uuid = define(devcluster_3, "mig1", "hv1")
    boot = boots(console(devcluster_3, "mig1"))
    before = last_counter(devcluster_3, "mig1")
    devcluster_3.pvc("vm", "migrate", "mig1", "-t", "hv2", "--wait")
    vm = info(devcluster_3, "mig1")
    assert (vm["node"], vm["last_node"], vm["migrated"], vm["state"]) == \
        ("hv2", "hv1", "from hv1", "start")
    assert running_on(devcluster_3, uuid) == ["hv2"]
    wait_counter_above(devcluster_3, "mig1", before + 1)
    lines = console(devcluster_3, "mig1")
    # a restart would print a new boot marker and count from 0 again
    assert not boots(lines) or boots(lines) == boot
    assert min(counters(lines)) >= before - 1
    devcluster_3.pvc("vm", "unmigrate", "mig1", "--wait")
    vm = info(devcluster_3, "mig1")
    assert (vm["node"], vm["last_node"], vm["migrated"]) == ("hv1", "", "no")
    assert running_on(devcluster_3, uuid) == ["hv1"]
    now = devcluster_3.wait_for("the counter on hv1", lambda: counters(
        console(devcluster_3, "mig1")), timeout=30)[-1]
    wait_counter_above(devcluster_3, "mig1", now)
    assert min(counters(console(devcluster_3, "mig1"))) >= before


def test_shutdown_stop_restart_disable_and_remove(devcluster_3: DevCluster) -> None:
    uuid = define(devcluster_3, "life1", "hv3")
    r = post(devcluster_3, "/vm/life1/state", state="shutdown", wait="true")
    assert r.status_code == 200, r.text
    assert info(devcluster_3, "life1")["state"] == "stop"
    assert any(line.startswith("PVC-GUEST-SHUTDOWN") for line in console(devcluster_3, "life1"))
    assert running_on(devcluster_3, uuid) == []
    # not running: restart and shutdown are refused, and nothing changes
    for state in ("restart", "shutdown"):
        r = post(devcluster_3, "/vm/life1/state", state=state)
        assert 400 <= r.status_code < 500 and "life1" in r.json()["message"]
    assert info(devcluster_3, "life1")["state"] == "stop"
    assert post(devcluster_3, "/vm/life1/state", state="start", wait="true").status_code == 200
    wait_booted(devcluster_3, "life1")
    # restarted again and again: each time a new boot on the same node (a restart once
    # started the domain while libvirt was still ending its last run, and failed)
    for _ in range(3):
        last_boot = boots(console(devcluster_3, "life1"))[-1]
        r = post(devcluster_3, "/vm/life1/state", state="restart", wait="true")
        assert r.status_code == 200, r.text
        devcluster_3.wait_for("a new boot after restart", lambda last=last_boot: (b := boots(
            console(devcluster_3, "life1"))) and b[-1] != last, timeout=60)
        vm = info(devcluster_3, "life1")
        assert (vm["state"], vm["failed_reason"]) == ("start", ""), vm
        assert running_on(devcluster_3, uuid) == ["hv3"]
        wait_booted(devcluster_3, "life1")
    assert post(devcluster_3, "/vm/life1/state", state="stop", wait="true").status_code == 200
    assert running_on(devcluster_3, uuid) == [] and info(devcluster_3, "life1")["state"] == "stop"
    assert post(devcluster_3, "/vm/life1/state", state="start", wait="true").status_code == 200
    wait_booted(devcluster_3, "life1")
    assert post(devcluster_3, "/vm/life1/state", state="disable", wait="true").status_code == 200
    assert info(devcluster_3, "life1")["state"] == "disable" and running_on(devcluster_3, uuid) == []
    devcluster_3.pvc("vm", "remove", "life1", "-y")
    with api(devcluster_3) as c:
        assert c.get("/vm/life1").status_code == 404
    assert running_on(devcluster_3, uuid) == []


def test_shutdown_the_guest_ignores_is_forced_after_the_timeout(
        devcluster_3: DevCluster) -> None:
    """Right after start the guest has no power-button handler yet: the ACPI request is
    lost, and the node forces it off after vm_shutdown_timeout."""
    uuid = define(devcluster_3, "deaf1", "hv1", start=False)
    assert post(devcluster_3, "/vm/deaf1/state", state="start", wait="true").status_code == 200
    began = time.monotonic()
    r = post(devcluster_3, "/vm/deaf1/state", state="shutdown", wait="true")
    took = time.monotonic() - began
    assert r.status_code == 200, r.text
    assert SHUTDOWN_TIMEOUT - 1 <= took <= SHUTDOWN_TIMEOUT + 15, took
    assert info(devcluster_3, "deaf1")["state"] == "stop"
    assert running_on(devcluster_3, uuid) == []
    assert not any(line.startswith("PVC-GUEST-SHUTDOWN")
                   for line in console(devcluster_3, "deaf1"))
    devcluster_3.pvc("vm", "remove", "deaf1", "-y")


def qemu_pids(name: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", f"guest={name},"], capture_output=True, text=True,
                          check=False).stdout.split()


def test_killed_qemu_is_started_again(devcluster_3: DevCluster) -> None:
    uuid = define(devcluster_3, "heal1", "hv2")
    boot = boots(console(devcluster_3, "heal1"))[-1]
    pids = qemu_pids("heal1")
    assert len(pids) == 1, pids
    os.kill(int(pids[0]), signal.SIGKILL)
    devcluster_3.wait_for("a new QEMU for heal1", lambda: (now := qemu_pids("heal1"))
                          and now != pids, timeout=10)
    wait_running_on(devcluster_3, uuid, ["hv2"], timeout=10)
    devcluster_3.wait_for("a new boot", lambda: (b := boots(console(devcluster_3, "heal1")))
                          and b[-1] != boot, timeout=30)
    assert info(devcluster_3, "heal1")["state"] == "start"


def test_flush_moves_every_vm_away_and_ready_brings_them_back(
        devcluster_3: DevCluster) -> None:
    uuids = {f"flush{i}": define(devcluster_3, f"flush{i}", "hv2") for i in range(4)}
    devcluster_3.pvc("node", "flush", "hv2", "--wait", timeout=300)
    node = devcluster_3.api().node_info("hv2")
    assert node["domain_state"] == "flushed"
    for name, uuid in uuids.items():
        vm = info(devcluster_3, name)
        assert vm["node"] in ("hv1", "hv3") and vm["last_node"] == "hv2", vm
        assert running_on(devcluster_3, uuid) == [vm["node"]]
    devcluster_3.pvc("node", "ready", "hv2", "--wait", timeout=300)
    assert devcluster_3.api().node_info("hv2")["domain_state"] == "ready"
    for name, uuid in uuids.items():
        vm = info(devcluster_3, name)
        assert (vm["node"], vm["last_node"]) == ("hv2", ""), vm
        wait_running_on(devcluster_3, uuid, ["hv2"])
    for name in uuids:
        devcluster_3.pvc("vm", "remove", name, "-y")


def test_shutdown_migration_method_restarts_the_vm_on_the_target(
        devcluster_3: DevCluster) -> None:
    uuid = define(devcluster_3, "cold1", "hv1")
    boot = boots(console(devcluster_3, "cold1"))[-1]
    assert post(devcluster_3, "/vm/cold1/meta", migration_method="shutdown").status_code == 200
    r = post(devcluster_3, "/vm/cold1/node", action="migrate", node="hv3", wait="true")
    assert r.status_code == 200, r.text
    assert running_on(devcluster_3, uuid) == ["hv3"]
    vm = info(devcluster_3, "cold1")
    assert (vm["node"], vm["state"], vm["migration_method"]) == ("hv3", "start", "shutdown")
    devcluster_3.wait_for("a fresh boot on hv3", lambda: (b := boots(
        console(devcluster_3, "cold1"))) and b[-1] != boot, timeout=60)
    devcluster_3.pvc("vm", "remove", "cold1", "-y")


def test_failed_live_migration_leaves_the_vm_where_it_was(devcluster_3: DevCluster) -> None:
    uuid = define(devcluster_3, "stay1", "hv1")
    boot = boots(console(devcluster_3, "stay1"))
    before = last_counter(devcluster_3, "stay1")
    devcluster_3.dev("service", "hv2", "libvirtd", "stop")
    try:
        r = post(devcluster_3, "/vm/stay1/node", action="migrate", node="hv2",
                 force_live="true", wait="true")
        assert r.status_code != 200 and "migration to hv2 failed" in r.json()["message"]
        vm = info(devcluster_3, "stay1")
        assert (vm["state"], vm["node"], vm["last_node"]) == ("start", "hv1", "")
        assert "migration to hv2 failed" in vm["failed_reason"]
    finally:
        devcluster_3.dev("service", "hv2", "libvirtd", "start")
    # (asking every node's libvirt: hv2's takes a moment to listen again)
    wait_running_on(devcluster_3, uuid, ["hv1"], timeout=30)
    wait_counter_above(devcluster_3, "stay1", before + 1)
    # the same boot, still counting on: it never stopped
    assert boots(console(devcluster_3, "stay1")) == boot
    assert min(counters(console(devcluster_3, "stay1"))) <= before
    devcluster_3.pvc("vm", "remove", "stay1", "-y")


def test_flush_shuts_down_what_cannot_move_and_ready_starts_it(
        devcluster_3: DevCluster) -> None:
    uuid = define(devcluster_3, "pinned1", "hv3")
    assert post(devcluster_3, "/vm/pinned1/meta", limit="hv3").status_code == 200
    devcluster_3.pvc("node", "flush", "hv3", "--wait", timeout=300)
    vm = info(devcluster_3, "pinned1")
    assert (vm["state"], vm["node"], vm["node_autostart"]) == ("stop", "hv3", True), vm
    assert running_on(devcluster_3, uuid) == []
    devcluster_3.pvc("node", "ready", "hv3", "--wait", timeout=300)
    wait_running_on(devcluster_3, uuid, ["hv3"])
    vm = info(devcluster_3, "pinned1")
    assert (vm["state"], vm["node_autostart"]) == ("start", False)
    devcluster_3.pvc("vm", "remove", "pinned1", "-y")


def test_a_newer_ready_cancels_a_flush_in_progress(devcluster_3: DevCluster) -> None:
    uuids = {f"cx{i}": define(devcluster_3, f"cx{i}", "hv3") for i in range(3)}
    assert post(devcluster_3, "/node/hv3/domain-state", state="flush").status_code == 200
    r = post(devcluster_3, "/node/hv3/domain-state", state="ready", wait="true")
    assert r.status_code == 200, r.text
    assert devcluster_3.api().node_info("hv3")["domain_state"] == "ready"
    for name, uuid in uuids.items():
        devcluster_3.wait_for(f"{name} home on hv3", lambda n=name: (
            (v := info(devcluster_3, n))["node"], v["state"]) == ("hv3", "start"), timeout=60)
        wait_running_on(devcluster_3, uuid, ["hv3"])
        devcluster_3.pvc("vm", "remove", name, "-y")


def test_a_kvm_domain_runs_under_tcg_where_kvm_cannot_work(devcluster_3: DevCluster) -> None:
    """hypervisor.domain_type auto: this host is itself a VM, so the node starts guests
    with TCG whatever the stored XML says; the record keeps the operator's XML."""
    xml = demo.vm_xml(devcluster_3.spec, "kvm1").replace('<domain type="qemu">',
                                                       '<domain type="kvm">')
    assert '<domain type="kvm">' in xml
    with api(devcluster_3) as c:
        assert c.post("/vm", data={"xml": xml}, params={"node": "hv3"}).status_code == 200
        assert c.post("/vm/kvm1/state", params={"state": "start", "wait": "true"}
                      ).status_code == 200
    wait_booted(devcluster_3, "kvm1")
    vm = info(devcluster_3, "kvm1")
    assert vm["type"] == "kvm"
    conn = libvirt.open(f"qemu+tcp://{devcluster_3.spec.node_address('hv3', 'cluster').ip}"
                        "/system")
    try:
        live = conn.lookupByUUIDString(vm["uuid"]).XMLDesc(0)
    finally:
        conn.close()
    assert "<domain type='qemu'" in live
    devcluster_3.pvc("vm", "remove", "kvm1", "-y")


def test_a_vm_that_cannot_start_fails_with_the_reason(devcluster_3: DevCluster) -> None:
    xml = re.sub(r"<kernel>[^<]+</kernel>", "<kernel>/nonexistent/vmlinuz</kernel>",
                 demo.vm_xml(devcluster_3.spec, "broken1"))
    with api(devcluster_3) as c:
        assert c.post("/vm", data={"xml": xml}, params={"node": "hv2"}).status_code == 200
        r = c.post("/vm/broken1/state", params={"state": "start", "wait": "true"})
        assert r.status_code != 200 and "nonexistent" in r.json()["message"], r.text
    vm = info(devcluster_3, "broken1")
    assert vm["state"] == "fail" and "nonexistent" in vm["failed_reason"]
    assert running_on(devcluster_3, vm["uuid"]) == []
    devcluster_3.pvc("vm", "remove", "broken1", "-y")


def test_bad_input_is_refused_and_changes_nothing(devcluster_3: DevCluster) -> None:
    from pvc.devcluster import demo
    from tests.system.test_foundation import non_volatile

    before = non_volatile(tree.read_all(devcluster_3.store))
    existing = info(devcluster_3, "demo")
    good = demo.vm_xml(devcluster_3.spec, "fresh1")
    cases = [
        ({"xml": "<domain><name>x</name"}, {}, 400, "parse"),
        # the surface documents 400 for every refusal of POST /vm
        ({"xml": demo.vm_xml(devcluster_3.spec, "demo")}, {}, 400, "demo"),
        ({"xml": good.replace(good.split("<uuid>")[1].split("</uuid>")[0],
                              existing["uuid"])}, {}, 400, existing["uuid"]),
        ({"xml": re.sub(r"<memory[^>]*>\d+</memory>", "<memory unit='GiB'>4096</memory>",
                        demo.vm_xml(devcluster_3.spec, "huge1"))}, {}, 400, "memory"),
        ({"xml": re.sub(r"<vcpu[^>]*>\d+</vcpu>", "<vcpu>64</vcpu>", good)}, {}, 400,
         "vCPU"),
        ({"xml": good}, {"node": "hv9"}, 404, "hv9"),
        ({"xml": good.replace("<name>fresh1</name>", "<name>../etc</name>")}, {}, 400,
         "name"),
    ]
    with api(devcluster_3) as c:
        for data, params, status, word in cases:
            r = c.post("/vm", data=data, params=params)
            assert r.status_code == status and word in r.json()["message"], (word, r.text)
        assert c.get("/vm/nosuchvm").status_code == 404
        r = c.post("/vm/demo/rename", params={"new_name": "other"})
        assert 400 <= r.status_code < 500 and "demo" in r.json()["message"]
        r = c.post("/vm/demo/node", params={"action": "migrate", "node": "hv9"})
        assert r.status_code == 404 and "hv9" in r.json()["message"]
        r = c.post("/vm/demo/state", params={"state": "explode"})
        assert r.status_code == 400 and "state" in r.json()["message"]
    res = devcluster_3.pvc("vm", "info", "nosuchvm", check=False)
    assert res.returncode != 0 and "nosuchvm" in res.stderr
    assert non_volatile(tree.read_all(devcluster_3.store)) == before
