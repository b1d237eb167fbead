"""API unavailability after the primary is powered off through its BMC, with its parts:
detection (power-off until a survivor holds the primary lease, from the lease znode's
creation time) and takeover (lease until the API answers).

Run: sudo .venv/bin/python -m bench.failover [--runs 5]
"""

from __future__ import annotations

import argparse
import time

from bench.common import Prober, bench_cluster, median_line, say, wait_primary_change
from pvc.devcluster import cluster
from pvc.drivers.fencing.ipmi import IpmiTool

GOAL = 6.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    totals: list[float] = []
    detect: list[float] = []
    takeover: list[float] = []
    with bench_cluster() as spec:
        store = cluster.zk_store(spec)
        for run in range(args.runs):
            old = next(n for n, s in cluster.node_states(spec, store).items()
                       if s["coordinator_state"] == "primary")
            bmc = IpmiTool(str(spec.bmc_address(old)), spec.ipmi_username, spec.ipmi_password)
            prober = Prober(spec).start()
            time.sleep(0.5)
            wall0, t0 = time.time(), time.monotonic()
            bmc.power_off()
            cut = time.monotonic()  # the node is off once the BMC has answered
            new = wait_primary_change(spec, store, old)
            while prober.first_ok_after(cut) is None and time.monotonic() - t0 < 60:
                time.sleep(0.05)
            prober.stop()
            first = prober.first_ok_after(cut)
            assert first is not None, "the API never came back"
            _, stat = store.zk.get("/locks/primary")
            lease_at = stat.ctime / 1000.0 - wall0
            total = first - t0
            totals.append(total)
            detect.append(lease_at)
            takeover.append(total - lease_at)
            say(f"run {run + 1}: {old} off -> {new}: API back after {total:.2f} s "
                f"(lease taken at {lease_at:.2f} s)")
            bmc.power_on()
            cluster.wait_ready(spec, 120)
            time.sleep(2)
        cluster.close(store)
    print(median_line("primary power-off: API unavailability", totals, GOAL))
    print(median_line("  detection (power-off to new lease)", detect))
    print(median_line("  takeover (lease to API answering)", takeover))


if __name__ == "__main__":
    main()
