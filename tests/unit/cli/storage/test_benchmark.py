"""`pvc storage benchmark list|info`: the request, results read from fio's JSON (and from
PVC's older summary format), running jobs, and unknown jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.cli.storage.support import FakeApi, run

MIB = 1024**2


def fio(direction: str, bw_bytes: int, iops: float, clat_ns: float) -> dict[str, Any]:
    """What `fio --output-format=json` reports for one job (the parts we read)."""
    other = "write" if direction == "read" else "read"
    return {"jobs": [{"jobname": "test",
                      direction: {"bw_bytes": bw_bytes, "bw": bw_bytes // 1024, "iops": iops,
                                  "clat_ns": {"mean": clat_ns}},
                      other: {"bw_bytes": 0, "bw": 0, "iops": 0.0, "clat_ns": {"mean": 0.0}}}]}


RESULT = {
    "seq_read": fio("read", 1200 * MIB, 300.0, 52_000_000.0),
    "seq_write": fio("write", 400 * MIB, 100.0, 160_000_000.0),
    "rand_read_4M": fio("read", 800 * MIB, 200.0, 80_000_000.0),
    "rand_write_4M": fio("write", 300 * MIB, 75.0, 210_000_000.0),
    "rand_read_4K": fio("read", 160 * MIB, 41_000.0, 1_550_000.0),
    "rand_write_4K": fio("write", 40 * MIB, 10_240.0, 6_200_000.0),
    "rand_read_4K_lowdepth": fio("read", 12 * MIB, 3_100.0, 320_000.0),
    "rand_write_4K_lowdepth": fio("write", 4 * MIB, 980.0, 1_020_000.0),
}
DONE = {"id": 2, "job": "after-upgrade", "test_format": 1, "benchmark_result": RESULT}
RUNNING = {"id": 3, "job": "20250102120000", "test_format": 1, "benchmark_result": "Running"}
OLD = {"id": 1, "job": "first", "test_format": 0,
       "benchmark_result": json.dumps({"seq_read": {"overall": {"bandwidth": "1048576",
                                                                "iops": "256"},
                                                    "latency": {"mean": "3900"}}})}


def test_benchmark_list(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/storage/ceph/benchmark", [RUNNING, DONE, OLD])
    result = run(api, tmp_path, "storage", "benchmark", "list")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("GET", "/storage/ceph/benchmark", [])]
    assert result.stdout.splitlines() == [
        "Benchmarks              Seq 4M (bandwidth)  Rand 4M (bandwidth)  Rand 4K (IOPS)    Rand 4K QD1 (IOPS)",
        "Job             Format     Read      Write      Read      Write     Read    Write     Read      Write",
        "20250102120000       1  Running    Running   Running    Running  Running  Running  Running    Running",
        "after-upgrade        1   1.2G/s   400.0M/s  800.0M/s   300.0M/s    41.0K    10.2K     3.1K        980",
        "first                0   1.0G/s        N/A       N/A        N/A      N/A      N/A      N/A        N/A",
    ]
    raw = run(api, tmp_path, "storage", "benchmark", "list", "after-upgrade", "-f", "raw")
    assert api.seen[-1].query == [("job", "after-upgrade")]
    assert raw.stdout == "20250102120000\nafter-upgrade\nfirst\n"


def test_benchmark_info(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/storage/ceph/benchmark", [DONE])
    result = run(api, tmp_path, "storage", "benchmark", "info", "after-upgrade")
    assert result.exit_code == 0, result.output
    assert api.requests() == [("GET", "/storage/ceph/benchmark", [("job", "after-upgrade")])]
    assert result.stdout.splitlines() == [
        "Job:         after-upgrade",
        "Test format: 1",
        "",
        "Test                                     Bandwidth   IOPS  Mean latency",
        "Sequential read (4M blocks)                 1.2G/s    300      52.00 ms",
        "Sequential write (4M blocks)              400.0M/s    100     160.00 ms",
        "Random read (4M blocks)                   800.0M/s    200      80.00 ms",
        "Random write (4M blocks)                  300.0M/s     75     210.00 ms",
        "Random read (4K blocks)                   160.0M/s  41.0K       1.55 ms",
        "Random write (4K blocks)                   40.0M/s  10.2K       6.20 ms",
        "Random read (4K blocks, queue depth 1)     12.0M/s   3.1K        320 us",
        "Random write (4K blocks, queue depth 1)     4.0M/s    980       1.02 ms",
    ]
    as_json = run(api, tmp_path, "storage", "benchmark", "info", "after-upgrade", "-f", "json")
    assert json.loads(as_json.stdout) == DONE


def test_benchmark_info_of_a_running_or_unknown_job(tmp_path: Path) -> None:
    api = FakeApi()
    api.on("GET", "/storage/ceph/benchmark", [RUNNING])
    running = run(api, tmp_path, "storage", "benchmark", "info", "20250102120000")
    assert running.exit_code == 0, running.output
    assert running.stdout.splitlines()[-1] == "No results: Running"
    api.on("GET", "/storage/ceph/benchmark", [])
    missing = run(api, tmp_path, "storage", "benchmark", "info", "nope")
    assert missing.exit_code == 2
    assert missing.stderr.splitlines()[-1] == 'Error: Benchmark job "nope" not found'
