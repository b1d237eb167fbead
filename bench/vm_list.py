"""`GET /api/v1/vm` with 1,000 VM records, against a bulk ZooKeeper read of the same
records in the same run (the floor any listing pays).

A standalone ZooKeeper on loopback, three node records as keepalives publish them, 1,000
VMs defined through the ops layer, and a real pvcapid process serving them.

Run: .venv/bin/python -m bench.vm_list [--vms 1000] [--runs 20]
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

from bench.common import end_cleanly_on_sigterm, median_line, say, stop_process
from pvc.common import config as configmod
from pvc.devcluster import zookeeper
from pvc.ops.vm import define as vm_define
from pvc.ops.vm.records import all_uuids
from pvc.state import connect, tree
from pvc.state.store import Store

TOKEN = "bench-token"
GOAL_RATIO, GOAL_MS = 1.5, 150.0


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    end_cleanly_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="pvc-bench-vm-list-"))
    api: subprocess.Popen[bytes] | None = None
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
        started = time.monotonic()
        for i in range(args.vms):
            vm_define.define(store, config, domain_xml(f"vm{i:04d}"), node=f"hv{1 + i % 3}")
        say(f"defined {args.vms} VMs in {time.monotonic() - started:.1f} s")
        api = subprocess.Popen(
            [sys.executable, "-m", "pvc.api.main", "--config", str(cfg_file),
             "--zookeeper", f"127.0.0.1:{zk_port}"],
            stdout=open(work / "pvcapid.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        url = f"http://127.0.0.1:{port}/api/v1/vm"
        with httpx.Client(headers={"X-Api-Key": TOKEN}, timeout=30) as client:
            for _ in range(60):
                try:
                    client.get(url.rsplit("/", 1)[0] + "/")
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            api_ms, zk_ms = [], []
            for run in range(args.runs + 3):
                t0 = time.perf_counter()
                r = client.get(url)
                elapsed = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200 and len(r.json()) == args.vms, r.text[:200]
                t1 = time.perf_counter()
                uuids = all_uuids(store)
                store.read_many([(k, {"domain": u}) for u in uuids for k in (
                    "domain", "domain.xml", "domain.status", "domain.meta", "domain.tags")])
                bulk = (time.perf_counter() - t1) * 1000
                if run >= 3:  # the first requests warm caches (XML parsing, connections)
                    api_ms.append(elapsed)
                    zk_ms.append(bulk)
        ratio = statistics.median(api_ms) / statistics.median(zk_ms)
        print(median_line(f"GET /api/v1/vm with {args.vms} VMs", api_ms, GOAL_MS, unit="ms"))
        print(median_line(f"bulk ZooKeeper read of the same {args.vms} records", zk_ms,
                          unit="ms"))
        print(f"ratio API / bulk read: {ratio:.2f} (goal <= {GOAL_RATIO})")
        zk.stop()
        zk.close()
    finally:  # whatever failed: nothing of ours stays running
        try:
            stop_process(api)
        finally:
            if zk_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(zk_pid, signal.SIGKILL)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
