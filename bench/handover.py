"""API unavailability during a planned primary handover (`node secondary <primary>`).

Run: sudo .venv/bin/python -m bench.handover [--runs 5]
"""

from __future__ import annotations

import argparse
import time

from bench.common import Prober, bench_cluster, median_line, say, wait_primary_change
from pvc.client.api import ApiClient
from pvc.client.connections import Connection
from pvc.devcluster import cluster

GOAL = 2.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    gaps: list[float] = []
    with bench_cluster() as spec:
        store = cluster.zk_store(spec)
        api = ApiClient(Connection(spec.name, str(spec.floating_address("upstream")), 7370,
                                   "http", spec.api_key))
        for run in range(args.runs):
            old = next(n for n, s in cluster.node_states(spec, store).items()
                       if s["coordinator_state"] == "primary")
            prober = Prober(spec).start()
            time.sleep(0.5)
            t0 = time.monotonic()
            api.node_coordinator_state(old, "secondary")
            new = wait_primary_change(spec, store, old)
            time.sleep(1.0)
            prober.stop()
            gap = prober.longest_gap(t0)
            gaps.append(gap)
            say(f"run {run + 1}: {old} -> {new}, API unavailable {gap:.2f} s")
            time.sleep(1.0)
        cluster.close(store)
    print(median_line("planned handover: API unavailability", gaps, GOAL))


if __name__ == "__main__":
    main()
