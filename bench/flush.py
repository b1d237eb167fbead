"""Flush of a node running 10 VMs: with the parallel bound (flush_concurrency, default 4)
against the same flush one VM at a time, in the same run on the same cluster.

Each flush is timed from the request until the node is `flushed` (every VM running
elsewhere); a `ready` brings the VMs back between runs. For the serial runs the node's
pvc.conf gets `flush_concurrency: 1` and only its node daemon restarts (VMs keep running).

Run: sudo .venv/bin/python -m bench.flush [--vms 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import httpx
import yaml

from bench.common import bench_cluster, median_line, say
from pvc.devcluster import cluster, demo
from pvc.devcluster.layout import ClusterSpec

GOAL_RATIO = 0.4
NODE = "hv1"


def cpu_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far."""
    with open("/proc/stat") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def domain_state(api: httpx.Client, state: str, busy: list[float] | None = None) -> float:
    began, (b0, t0) = time.monotonic(), cpu_busy()
    r = api.post(f"/node/{NODE}/domain-state", params={"state": state, "wait": "true"})
    assert r.status_code == 200, r.text
    b1, t1 = cpu_busy()
    if busy is not None:
        busy.append((b1 - b0) / (t1 - t0))
    return time.monotonic() - began


def set_concurrency(spec: ClusterSpec, value: int) -> None:
    conf = spec.node_dir(NODE) / "etc/pvc/pvc.conf"
    raw = yaml.safe_load(conf.read_text())
    raw["migration"]["flush_concurrency"] = value
    conf.write_text(yaml.safe_dump(raw, sort_keys=False))
    cluster.control(spec, NODE, {"cmd": "stop", "service": "pvcnoded"})
    cluster.control(spec, NODE, {"cmd": "start", "service": "pvcnoded"})
    cluster.wait_ready(spec, 120)


def flushes(api: httpx.Client, runs: int, label: str, busy: list[float]) -> list[float]:
    times = []
    for run in range(runs):
        times.append(domain_state(api, "flush", busy))
        on_node = [v["name"] for v in api.get("/vm").json()
                   if v["node"] == NODE and v["state"] == "start"]
        assert not on_node, f"still on {NODE}: {on_node}"
        back = domain_state(api, "ready")
        say(f"{label} run {run + 1}: flush {times[-1]:.2f} s, CPU {busy[-1]:.0%} busy "
            f"(ready {back:.2f} s)")
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=0,
                    help="flush_concurrency for the parallel runs (default: the node's)")
    args = ap.parse_args()
    with bench_cluster() as spec, httpx.Client(
            base_url=spec.api_url(), headers={"X-Api-Key": spec.api_key}, timeout=600) as api:
        api.post("/vm/demo/state", params={"state": "stop", "wait": "true"})
        for i in range(args.vms):
            r = api.post("/vm", data={"xml": demo.vm_xml(spec, f"fl{i}")}, params={"node": NODE})
            assert r.status_code == 200, r.text
            r = api.post(f"/vm/fl{i}/state", params={"state": "start", "wait": "true"})
            assert r.status_code == 200, r.text
        time.sleep(5)
        # a first migration into a node is slower (QEMU and libvirt warming up): warm both
        domain_state(api, "flush")
        domain_state(api, "ready")
        if args.parallel:
            set_concurrency(spec, args.parallel)
        busy_parallel: list[float] = []
        busy_serial: list[float] = []
        parallel = flushes(api, args.runs, "parallel", busy_parallel)
        set_concurrency(spec, 1)
        serial = flushes(api, args.runs, "one at a time", busy_serial)
    print(median_line(f"flush of {args.vms} VMs, parallel bound", parallel))
    print(median_line(f"flush of {args.vms} VMs, one at a time", serial))
    ratio = statistics.median(parallel) / statistics.median(serial)
    print(f"ratio parallel / one at a time: {ratio:.2f} (goal <= {GOAL_RATIO})")
    print(f"machine CPU busy during the flushes ({os.cpu_count()} cores): parallel "
          f"{statistics.median(busy_parallel):.0%}, one at a time "
          f"{statistics.median(busy_serial):.0%}")


if __name__ == "__main__":
    main()
