"""Live-migration downtime of a 256 MiB guest, as the guest's work sees it.

The guest prints `pvc-tick N` every 10 ms on its serial console. While it migrates, the
bench tails the console log files on the source and on the target node and timestamps
every tick as it appears (`pvc.devcluster.guest.ticks`); the longest silence across the
switch is the time the guest did no work. QEMU's own downtime figure is printed too.

Run: sudo .venv/bin/python -m bench.migration [--runs 7]
"""

from __future__ import annotations

import argparse
import time

import httpx
import libvirt

from bench.common import bench_cluster, median_line, say
from pvc.devcluster import demo
from pvc.devcluster.guest.ticks import TickLog, longest_silence
from pvc.devcluster.layout import ClusterSpec

GOAL_MS = 300.0


def qemu_downtime_ms(spec: ClusterSpec, node: str, uuid: str) -> float | None:
    conn = libvirt.open(f"qemu+tcp://{spec.node_address(node, 'cluster').ip}/system")
    try:
        stats = conn.lookupByUUIDString(uuid).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        return float(stats["downtime"]) if "downtime" in stats else None
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    seen_ms: list[float] = []
    qemu_ms: list[float] = []
    with bench_cluster() as spec, httpx.Client(
            base_url=spec.api_url(), headers={"X-Api-Key": spec.api_key}, timeout=180) as api:
        r = api.post("/vm", data={"xml": demo.vm_xml(spec, "tick1", 256, tick_ms=10)},
                     params={"node": "hv1"})
        assert r.status_code == 200, r.text
        r = api.post("/vm/tick1/state", params={"state": "start", "wait": "true"})
        assert r.status_code == 200, r.text
        uuid = api.get("/vm/tick1").json()[0]["uuid"]
        time.sleep(5)  # booted and ticking
        for run in range(args.runs):
            src = api.get("/vm/tick1").json()[0]["node"]
            dst = "hv2" if src == "hv1" else "hv1"
            logs = [spec.node_dir(n) / "var/log/libvirt/tick1.log" for n in (src, dst)]
            with TickLog(logs[0]) as before, TickLog(logs[1]) as after:
                time.sleep(1.0)
                r = api.post("/vm/tick1/node", params={"action": "move", "node": dst,
                                                       "wait": "true"})
                assert r.status_code == 200, r.text
                time.sleep(1.0)
            gap = longest_silence([before, after]) * 1000
            seen_ms.append(gap)
            q = qemu_downtime_ms(spec, dst, uuid)
            if q is not None:
                qemu_ms.append(q)
            say(f"run {run + 1}: {src} -> {dst}: guest silent for {gap:.0f} ms "
                f"(QEMU says {q} ms; ticks seen {len(before.seen)}+{len(after.seen)})")
    print(median_line("live migration, 256 MiB guest: longest silence of the guest",
                      seen_ms, GOAL_MS, unit="ms"))
    if qemu_ms:
        print(median_line("  QEMU's reported downtime", qemu_ms, unit="ms"))


if __name__ == "__main__":
    main()
