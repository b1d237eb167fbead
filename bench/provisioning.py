"""A profile to a running Debian 12 VM whose cloud-init ran, from a cloned base volume:
`POST /provisioner/create` with a profile whose storage template clones a base volume
(the noop example: no install step), split into provisioning (the request until the task
has defined the VM and asked for it to start) and guest boot (from then until cloud-init,
having fetched the VM's meta-data and user-data from the metadata service, prints that it
finished, after the user-data's runcmd marker, which is checked). Baseline, in the same
run: the same VM made by hand through the API (clone the volume, a full copy as PVC's
`volume clone` makes; define the XML; start it) up to the same point (it has no profile,
so no user-data).

The base volume is built once by the debootstrap example with `define_vm=false` (its
build time is printed too), with the packages fetched on the host (`pvc.devcluster.debian`).

    sudo .venv/bin/python -m bench.provisioning [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import api, bench_cluster, median_line, say
from pvc.common.errors import BackendError
from pvc.devcluster import debian
from pvc.ops.provisioner.macs import random_macs
from pvc.provisioner.domain import domain_xml
from pvc.provisioner.examples import debootstrap

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "pvc" / "provisioner" / "examples"
USERDATA = """#cloud-config
runcmd:
  - echo "PVC-BENCH-DONE $(hostname)" > /dev/ttyS0
"""
GOAL = 5.0


def ok(r: httpx.Response, what: str) -> Any:
    if r.status_code not in (200, 201, 202):
        raise BackendError(f"{what}: {r.status_code} {r.text}")
    return r.json()


def wait_task(c: httpx.Client, task_id: str, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = ok(c.get(f"/tasks/{task_id}"), "task status")
        state = body.get("state")
        if state == "SUCCESS":
            return
        if state == "FAILURE":
            raise BackendError(f"task {task_id} failed: {body.get('status')}")
        time.sleep(0.1)
    raise BackendError(f"task {task_id} did not finish in {timeout:.0f} s")


def create(c: httpx.Client, name: str, profile: str, **params: Any) -> None:
    task = ok(c.post("/provisioner/create", params={"name": name, "profile": profile,
                                                    **params}), f"create {name}")
    wait_task(c, task["task_id"])


def wait_marker(c: httpx.Client, name: str, timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = ok(c.get(f"/vm/{name}/console", params={"lines": 1000}), "console")["data"]
        # cloud-init's last line (after runcmd); the baseline VM has no profile, so no
        # user-data and no marker, but cloud-init ends the same way
        if any("Cloud-init v." in line and "finished at" in line and "DataSourceEc2" in line
               for line in str(data).splitlines()):
            return time.monotonic()
        time.sleep(1)
    raise BackendError(f"{name}: cloud-init did not finish within {timeout:.0f} s")


def remove(c: httpx.Client, name: str) -> None:
    ok(c.delete(f"/vm/{name}", params={"delete_disks": "true"}), f"remove {name}")


def prepare(c: httpx.Client) -> None:
    """Network 100, the templates and profiles, and the base volume vms/base_vda."""
    tarball = debian.tarball(debootstrap.PACKAGES)
    ok(c.post("/network", params={
        "vni": 100, "description": "net100", "nettype": "managed", "domain": "bench.local",
        "ip4_network": "10.100.0.0/24", "ip4_gateway": "10.100.0.1", "dhcp4": True,
        "dhcp4_start": "10.100.0.100", "dhcp4_end": "10.100.0.199"}), "network")
    for name, path in (("debootstrap", EXAMPLES / "debootstrap.py"),
                       ("noop", EXAMPLES / "noop.py")):
        ok(c.post("/provisioner/script", params={"name": name},
                  data={"data": path.read_text()}), f"script {name}")
    ok(c.post("/provisioner/userdata", params={"name": "marker"}, data={"data": USERDATA}),
       "userdata")
    ok(c.post("/provisioner/template/system", params={
        "name": "deb", "vcpus": 1, "vram": 512, "serial": True, "vnc": False}), "system")
    ok(c.post("/provisioner/template/network", params={"name": "net"}), "network template")
    ok(c.post("/provisioner/template/network/net/net", params={"vni": 100}), "vni")
    disks: tuple[tuple[str, dict[str, Any]], ...] = (
        ("deb", {"disk_size": 1, "filesystem": "ext4", "mountpoint": "/"}),
        ("clone", {"source_volume": "base_vda"}))
    for name, disk in disks:
        ok(c.post("/provisioner/template/storage", params={"name": name}), name)
        ok(c.post(f"/provisioner/template/storage/{name}/disk",
                  params={"disk_id": "vda", "pool": "vms", **disk}), f"{name} disk")
    ok(c.post("/provisioner/profile", params={
        "name": "debian12", "profile_type": "provisioner", "system_template": "deb",
        "network_template": "net", "storage_template": "deb", "userdata": "marker",
        "script": "debootstrap", "arg": f"tarball={tarball}"}), "profile debian12")
    ok(c.post("/provisioner/profile", params={
        "name": "clone", "profile_type": "provisioner", "system_template": "deb",
        "network_template": "net", "storage_template": "clone", "userdata": "marker",
        "script": "noop"}), "profile clone")
    start = time.monotonic()
    create(c, "base", "debian12", define_vm=False, start_vm=False)
    say(f"base volume built by debootstrap (not defined): {time.monotonic() - start:.1f} s")


def by_hand(c: httpx.Client, name: str) -> tuple[float, float]:
    """Clone, define and start as an operator would through the API: (to the start
    request, to the marker)."""
    t0 = time.monotonic()
    ok(c.post("/storage/ceph/volume/vms/base_vda/clone",
              params={"new_volume": f"{name}_vda", "force": True}),
       "clone")
    client = ok(c.get("/storage/ceph/client"), "rbd client")
    xml = domain_xml(name, str(uuid.uuid4()), {
        "system_details": {"vcpu_count": 1, "vram_mb": 512, "serial": True},
        "volumes": [{"pool": "vms", "disk_id": "vda"}],
        "networks": [{"eth_bridge": "vmbr100", "mac": random_macs(1)[0]}],
        "ceph_monitor_list": [m["host"] for m in client["monitors"]],
        "ceph_monitor_port": client["monitors"][0]["port"],
        "ceph_monitor_secret": client["secret_uuid"],
        "ceph_monitor_user": client["auth_username"], "profile": "clone"})
    ok(c.post("/vm", data={"xml": xml}, params={"profile": "clone"}), "define")
    ok(c.post(f"/vm/{name}/state", params={"state": "start"}), "start")
    t1 = time.monotonic()
    return t1 - t0, wait_marker(c, name) - t1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with bench_cluster() as spec, api(spec) as c:
        prepare(c)
        prov, boot, hand_prov, hand_boot = [], [], [], []
        for run in range(1, args.runs + 1):
            name = f"web{run}"
            t0 = time.monotonic()
            create(c, name, "clone")
            t1 = time.monotonic()
            t2 = wait_marker(c, name)
            console = ok(c.get(f"/vm/{name}/console", params={"lines": 1000}), "console")
            if f"PVC-BENCH-DONE {name}" not in str(console["data"]).splitlines():
                raise BackendError(f"{name}: cloud-init ran without the profile's user-data")
            prov.append(t1 - t0)
            boot.append(t2 - t1)
            say(f"run {run}: provisioner {prov[-1]:.2f} s + guest boot {boot[-1]:.1f} s")
            remove(c, name)
            p, b = by_hand(c, f"hand{run}")
            hand_prov.append(p)
            hand_boot.append(b)
            say(f"run {run}: by hand {p:.2f} s + guest boot {b:.1f} s")
            remove(c, f"hand{run}")
        print(median_line("provisioning (request to start)", prov, GOAL))
        print(median_line("guest boot (start to cloud-init finished)", boot))
        print(median_line("baseline by hand (clone, define, start)", hand_prov))
        print(median_line("baseline guest boot", hand_boot))
        print(f"provisioning / by hand: {statistics.median(prov) / statistics.median(hand_prov):.2f}x")


if __name__ == "__main__":
    main()
