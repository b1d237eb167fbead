"""`pvc-dev up` with packages installed: time until every node is `run` with a primary and
the API answers, for a 3-node cluster; each run is torn down with `down` (also timed).

Run: sudo .venv/bin/python -m bench.bringup [--runs 5]
"""

from __future__ import annotations

import argparse
import time

from bench.common import bench_spec, median_line, say
from pvc.devcluster import cluster

GOAL = 60.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    ups: list[float] = []
    downs: list[float] = []
    cluster.down(bench_spec())  # a bench cluster left by an interrupted run would skew run 1
    for run in range(args.runs):
        t0 = time.monotonic()
        spec = cluster.up(bench_spec(), timeout=240)
        ups.append(time.monotonic() - t0)
        t1 = time.monotonic()
        left = cluster.down(spec)
        downs.append(time.monotonic() - t1)
        say(f"run {run + 1}: up {ups[-1]:.2f} s, down {downs[-1]:.2f} s, left {left or 'nothing'}")
    print(median_line("pvc-dev up (3 nodes) to all run + API", ups, GOAL))
    print(median_line("pvc-dev down", downs))


if __name__ == "__main__":
    main()
