"""`GET /api/v1/storage/ceph/volume` with 500 volume records: p50 and p95, against the same
listing with 50 volumes and against `GET /api/v1/storage/ceph/pool`, measured in the same
run.

A standalone ZooKeeper on loopback; pool and volume records written the way the storage
ops write them (a few transactions); a real pvcapid process serving them from its
ZooKeeper mirror (the storage subsystem is on, but listing never touches Ceph). The
listing is measured first with 50 volumes, then 450 more are added.

Run: .venv/bin/python -m bench.volume_list [--volumes 500] [--baseline 50] [--runs 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.common import median_line, say
from bench.vm_list import free_port
from pvc.common import config as configmod
from pvc.devcluster import zookeeper
from pvc.state import connect, tree
from pvc.state.store import Store

TOKEN = "bench-token"
POOL = "vms"
BATCH = 100  # volumes per ZooKeeper transaction (3 creates each)
WARMUP = 5


def volume_stats(name: str, i: int) -> dict[str, Any]:
    """What the storage driver records for a volume (`volume_info`)."""
    return {
        "name": name, "size": (10 + i % 90) * 1024**3, "objects": 2560 + i, "order": 22,
        "object_size": 4194304, "block_name_prefix": f"rbd_data.{i:012x}", "format": 2,
        "features": ["layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten"],
        "flags": [], "op_features": [], "snapshot_count": 0, "id": f"{i:012x}",
        "create_timestamp": "Mon Jan  1 00:00:00 2024",
        "access_timestamp": "Mon Jan  1 00:00:00 2024",
        "modify_timestamp": "Mon Jan  1 00:00:00 2024",
    }


def add_pool(store: Store, pool: str) -> None:
    (store.txn()
     .create("pool", {"pgs": 64, "tier": "default", "copies": 3, "mincopies": 2}, pool=pool)
     .create("pool.stats", {"id": 1, "free_bytes": 10 * 1024**4, "used_bytes": 1024**4,
                            "used_percent": 0.09, "num_objects": 0}, pool=pool)
     .create("pool.volumes", "", pool=pool)
     .create("pool.snapshots", "", pool=pool)
     .commit())


def add_volumes(store: Store, pool: str, first: int, count: int) -> None:
    for start in range(first, first + count, BATCH):
        txn = store.txn()
        for i in range(start, min(start + BATCH, first + count)):
            name = f"vm{i:04d}_sda"
            txn = (txn.create("volume", {"created": time.time()}, pool=pool, volume=name)
                   .create("volume.stats", volume_stats(name, i), pool=pool, volume=name)
                   .create("volume.snapshots", "", pool=pool, volume=name))
        txn.commit()


def timed(client: httpx.Client, url: str, runs: int, expect: int | None) -> list[float]:
    """Milliseconds of `runs` GETs of `url` (after a few unmeasured ones)."""
    times = []
    for run in range(runs + WARMUP):
        t0 = time.perf_counter()
        r = client.get(url)
        elapsed = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200, r.text[:200]
        if expect is not None:
            assert len(r.json()) == expect, (len(r.json()), expect)
        if run >= WARMUP:
            times.append(elapsed)
    return times


def wait_count(client: httpx.Client, url: str, count: int, timeout: float = 30) -> None:
    """Until the API's mirror shows `count` items at `url`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = client.get(url)
            if r.status_code == 200 and len(r.json()) == count:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the API did not list {count} items at {url}")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def report(label: str, values: list[float]) -> None:
    print(f"{median_line(label, values, unit='ms')}, p95 {p95(values):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--volumes", type=int, default=500)
    ap.add_argument("--baseline", type=int, default=50)
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    if not 0 < args.baseline < args.volumes:
        ap.error("--baseline must be between 0 and --volumes")
    work = Path(tempfile.mkdtemp(prefix="pvc-bench-volume-list-"))
    zk_pid, zk_port = zookeeper.start_standalone(work)
    api: subprocess.Popen[bytes] | None = None
    try:
        zk = connect.client(f"127.0.0.1:{zk_port}", 10)
        zk.start(timeout=10)
        store = Store(zk)
        tree.initialize(store)
        add_pool(store, POOL)
        add_volumes(store, POOL, 0, args.baseline)
        raw = yaml.safe_load(configmod.SAMPLE_FILE.read_text())
        port = free_port()
        raw["api"]["listen"] = {"address": "127.0.0.1", "port": port}
        raw["api"]["token"] = [{"description": "bench", "token": TOKEN}]
        cfg_file = work / "pvc.conf"
        cfg_file.write_text(yaml.safe_dump(raw))
        with open(work / "pvcapid.log", "wb") as log:
            api = subprocess.Popen(
                [sys.executable, "-m", "pvc.api.main", "--config", str(cfg_file),
                 "--zookeeper", f"127.0.0.1:{zk_port}"], stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/api/v1/storage/ceph"
        volumes_url, pools_url = f"{base}/volume", f"{base}/pool"
        with httpx.Client(headers={"X-Api-Key": TOKEN}, timeout=30) as client:
            wait_count(client, volumes_url, args.baseline)
            few = timed(client, volumes_url, args.runs, args.baseline)
            pools = timed(client, pools_url, args.runs, 1)
            started = time.monotonic()
            add_volumes(store, POOL, args.baseline, args.volumes - args.baseline)
            say(f"wrote {args.volumes - args.baseline} more volume records in "
                f"{time.monotonic() - started:.2f} s")
            wait_count(client, volumes_url, args.volumes)
            many = timed(client, volumes_url, args.runs, args.volumes)
            pools_after = timed(client, pools_url, args.runs, 1)
        report(f"GET /storage/ceph/volume with {args.volumes} volumes", many)
        report(f"GET /storage/ceph/volume with {args.baseline} volumes", few)
        report("GET /storage/ceph/pool (1 pool)", pools + pools_after)
        pool_med = statistics.median(pools + pools_after)
        print(f"ratio {args.volumes} / {args.baseline} volumes: p50 "
              f"{statistics.median(many) / statistics.median(few):.2f}, p95 "
              f"{p95(many) / p95(few):.2f} (records x{args.volumes / args.baseline:.0f})")
        print(f"ratio {args.volumes} volumes / pool list: p50 "
              f"{statistics.median(many) / pool_med:.2f}")
        zk.stop()
        zk.close()
    finally:
        if api is not None:
            api.terminate()
            api.wait(10)
        os.kill(zk_pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
