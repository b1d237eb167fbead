"""`GET /api/v1/vm` as the VM count grows (1,000 to 10,000 by default): how soon a freshly
started pvcapid answers it in full, and what a warm listing costs, against the floor of
reading the same records from ZooKeeper in bulk (multiRead) in the same run.

A standalone ZooKeeper on loopback, three node records as keepalives publish them, VMs
defined through the ops layer, and a real pvcapid process (started anew for each size,
as on a primary takeover) serving them.

Run: .venv/bin/python -m bench.vm_list [--sizes 1000,3000,10000] [--runs 20]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

import httpx
import yaml

from bench.common import end_cleanly_on_sigterm, median_line, say
from pvc.common import config as configmod
from pvc.common.procs import stop as stop_process
from pvc.devcluster import zookeeper
from pvc.ops.vm import define as vm_define
from pvc.state import bulk, connect, tree
from pvc.state.store import Store

TOKEN = "bench-token"
GOAL_FIRST_S, GOAL_WARM_MS, GOAL_RATIO = 10.0, 300.0, 1.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def domain_xml(name: str) -> str:
    return (f"<domain type='qemu'><name>{name}</name><uuid>{uuidlib.uuid4()}</uuid>"
            "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<cpu><topology sockets='1' cores='1' threads='1'/></cpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>"
            "<emulator>/usr/bin/qemu-system-x86_64</emulator>"
            f"<serial type='pty'><log file='/var/log/libvirt/{name}.log'/></serial>"
            "<interface type='bridge'><mac address='52:54:00:00:00:01'/>"
            "<source bridge='vmbr100'/><model type='virtio'/></interface>"
            "</devices></domain>")


def nodes(store: Store) -> None:
    for n in ("hv1", "hv2", "hv3"):
        txn = store.txn()
        for key in store.schema.object_keys("node"):
            txn.create(key.name, "coordinator" if key.name == "node" else key.default, node=n)
        txn.commit()
        store.txn().set("node.daemon_state", "run", node=n).set(
            "node.static", {"cpu_count": 8, "kernel": "6.1", "os": "Debian", "arch": "x86_64"},
            node=n).set("node.stats", {"load": 0.5, "memory": {
                "total": 65536, "used": 1024, "free": 64512, "allocated": 0, "provisioned": 0},
                "vcpu_allocated": 0, "domains_count": 0, "running_domains": []}, node=n).commit()


def bulk_floor(store: Store) -> float:
    """Seconds to read every VM's listed keys from ZooKeeper in bulk (multiRead)."""
    root = store.path("root.domains")
    t0 = time.perf_counter()
    uuids = store.zk.get_children(root)
    bulk.read_many(store.zk, [("data", f"{root}/{u}{leaf}") for u in uuids for leaf in (
        "", "/xml", "/status", "/meta", "/tags", "/stats", "/vnc")])
    return time.perf_counter() - t0


def first_answer(client: httpx.Client, url: str, vms: int, began: float) -> float:
    """Seconds from `began` (the API's start) to its first complete listing."""
    while time.monotonic() - began < 120:
        try:
            r = client.get(url)
            if r.status_code == 200 and len(r.json()) == vms:
                return time.monotonic() - began
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"pvcapid did not list {vms} VMs within 120 s")


def measure(work: Path, cfg_file: Path, zk_port: int, port: int, store: Store, vms: int,
            runs: int) -> dict[str, float]:
    log = open(work / f"pvcapid-{vms}.log", "wb")  # noqa: SIM115 - handed to the child
    began = time.monotonic()
    api = subprocess.Popen(
        [sys.executable, "-m", "pvc.api.main", "--config", str(cfg_file),
         "--zookeeper", f"127.0.0.1:{zk_port}"], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        url = f"http://127.0.0.1:{port}/api/v1/vm"
        with httpx.Client(headers={"X-Api-Key": TOKEN}, timeout=60) as client:
            first = first_answer(client, url, vms, began)
            api_ms, floor_ms = [], []
            for _ in range(runs):
                t0 = time.perf_counter()
                r = client.get(url)
                api_ms.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200 and len(r.json()) == vms, r.text[:200]
                floor_ms.append(bulk_floor(store) * 1000)
    finally:
        stop_process(api)
    warm, floor = statistics.median(api_ms), statistics.median(floor_ms)
    print(f"{vms} VMs: first answer {first:.2f} s after start (goal <= {GOAL_FIRST_S:.0f} s)")
    print(median_line(f"{vms} VMs: warm GET /api/v1/vm", api_ms, GOAL_WARM_MS, unit="ms"))
    print(median_line(f"{vms} VMs: bulk ZooKeeper read of the same records", floor_ms,
                      unit="ms"))
    print(f"{vms} VMs: ratio API / bulk read {warm / floor:.2f} (goal <= {GOAL_RATIO}), "
          f"{warm * 1000 / vms:.0f} us a VM", flush=True)
    return {"first": first, "warm": warm}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,3000,10000",
                    help="VM counts to measure, ascending (comma-separated)")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    end_cleanly_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="pvc-bench-vm-list-"))
    zk_pid: int | None = None
    try:
        zk_pid, zk_port = zookeeper.start_standalone(work)
        zk = connect.client(f"127.0.0.1:{zk_port}", 10)
        zk.start(timeout=10)
        store = Store(zk)
        tree.initialize(store)
        nodes(store)
        raw = yaml.safe_load(configmod.SAMPLE_FILE.read_text())
        port = free_port()
        raw["api"]["listen"] = {"address": "127.0.0.1", "port": port}
        raw["api"]["token"] = [{"description": "bench", "token": TOKEN}]
        cfg_file = work / "pvc.conf"
        cfg_file.write_text(yaml.safe_dump(raw))
        config = configmod.load(cfg_file)
        results: dict[int, dict[str, float]] = {}
        defined = 0
        for size in sizes:
            started = time.monotonic()
            for i in range(defined, size):
                vm_define.define(store, config, domain_xml(f"vm{i:05d}"), node=f"hv{1 + i % 3}")
            say(f"defined VMs {defined}-{size} in {time.monotonic() - started:.1f} s")
            defined = size
            results[size] = measure(work, cfg_file, zk_port, port, store, size, args.runs)
        small, large = sizes[0], sizes[-1]
        if large > small:
            growth = results[large]["warm"] / results[small]["warm"]
            print(f"growth {small} -> {large} VMs ({large / small:.0f}x the VMs): warm "
                  f"listing {growth:.1f}x, first answer "
                  f"{results[large]['first'] / results[small]['first']:.1f}x")
        zk.stop()
        zk.close()
    finally:  # whatever failed: nothing of ours stays running
        if zk_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(zk_pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
