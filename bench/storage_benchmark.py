"""Sequential 4M writes of `storage.benchmark` against Ceph's own `rbd bench`, on the same
pool of the one-OSD test Ceph, in the same run.

Each round gives both tools a fresh volume: the benchmark body's `seq_write` test (fio's
rbd engine, PVC's parameters: 4M blocks, queue depth 64, time based) and
`rbd bench --io-type write --io-size 4M --io-pattern seq` (16 threads, a fixed total).
Both figures are bytes per second as the tools report them (fio's `bw_bytes`; rbd bench's
final ops/sec times the I/O size). Goal: fio reaches at least 0.9x of rbd bench.

Run: .venv/bin/python -m bench.storage_benchmark [--rounds 3] [--runtime 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
from collections.abc import Callable

from tests.integration import cephsupport

from bench.common import median_line, say
from pvc.drivers.storage.ceph import CephStorage
from pvc.tasks.storage import benchmark

GOAL_RATIO = 0.9
POOL = "benchpool"
MiB = 1024**2
IO_SIZE = 4 * MiB
_RBD_RATE = re.compile(r"elapsed:\s*\S+\s+ops:\s*(\d+)\s+ops/sec:\s*([\d.]+)")


def fio_seq_write(ceph: cephsupport.CephTestCluster, volume: str, runtime: int) -> float:
    """Bytes/s of the benchmark body's seq_write test."""
    report = benchmark.run_test("seq_write", POOL, volume, runtime, ceph.conf_path,
                                ceph.keyring_path)
    return float(report["jobs"][0]["write"]["bw_bytes"])


def rbd_bench(ceph: cephsupport.CephTestCluster, volume: str, total: int) -> float:
    """Bytes/s of `rbd bench` sequential 4M writes of `total` bytes."""
    env = {**os.environ, "CEPH_CONF": str(ceph.conf_path),
           "CEPH_KEYRING": str(ceph.keyring_path)}
    done = subprocess.run(
        ["rbd", "bench", "--io-type", "write", "--io-size", str(IO_SIZE), "--io-pattern",
         "seq", "--io-total", str(total), f"{POOL}/{volume}"],
        env=env, capture_output=True, text=True, check=True, timeout=300)
    found = _RBD_RATE.findall(done.stdout)
    if not found:
        raise RuntimeError(f"rbd bench said nothing of its rate:\n{done.stdout}")
    return float(found[-1][1]) * IO_SIZE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runtime", type=int, default=3, help="seconds of the fio test")
    ap.add_argument("--volume-mib", type=int, default=1024,
                    help="the size of each fresh volume (and rbd bench's total)")
    args = ap.parse_args()
    if not cephsupport.available():
        raise SystemExit("Ceph is not installed")
    say("starting a one-OSD Ceph ...")
    ceph = cephsupport.start()
    fio: list[float] = []
    rbd: list[float] = []
    try:
        ceph.new_pool(POOL)
        size = args.volume_mib * MiB
        tools: list[tuple[str, list[float], Callable[[str], float]]] = [
            ("fio", fio, lambda v: fio_seq_write(ceph, v, args.runtime)),
            ("rbd bench", rbd, lambda v: rbd_bench(ceph, v, size)),
        ]
        with CephStorage(ceph.conf_path, ceph.keyring_path) as storage:
            # round 0 warms the fresh OSD up and is not counted
            for n in range(args.rounds + 1):
                for label, results, run in tools:
                    volume = f"bench_{n}_{label.replace(' ', '_')}"
                    storage.volume_create(POOL, volume, size)
                    try:
                        rate = run(volume) / MiB
                    finally:
                        benchmark.remove_volume(storage, POOL, volume)
                    if n:
                        results.append(rate)
                    say(f"round {n}{' (warm-up)' if not n else ''}: {label} {rate:.1f} MiB/s")
    finally:
        ceph.stop()
    print(median_line("storage.benchmark seq_write (fio rbd, QD64)", fio, unit="MiB/s"))
    print(median_line("rbd bench seq write 4M (16 threads)", rbd, unit="MiB/s"))
    ratio = statistics.median(fio) / statistics.median(rbd)
    print(f"ratio storage.benchmark / rbd bench: {ratio:.2f} (goal >= {GOAL_RATIO})")


if __name__ == "__main__":
    main()
