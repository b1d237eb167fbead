"""Storage benchmark jobs: checking a request, and their records in ZooKeeper.

A job's record (`benchmark`, `/ceph/benchmarks/{job}`) is created when its task starts,
with the result "Running", and gets the results when the task ends; a job that fails is
removed again. Results are PVC's test format 1: for each test of `TESTS`, fio's JSON
output (`jobs[0].read|write` with `bw_bytes`, `iops`, `clat_ns`, ...). The API shows each
job as `{id, job, test_format, benchmark_result}`; `id` is the id of the task that ran it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from typing import Any

from pvc.common import names
from pvc.common.errors import AlreadyExists, InvalidArgument, NotFound
from pvc.ops.storage.records import require_pool
from pvc.state.store import Store

TEST_FORMAT = 1
RUNNING = "Running"

# PVC's tests: name -> (fio readwrite, block size, I/O depth); each test reports the
# figures of its direction (read or write).
TESTS: dict[str, tuple[str, str, int]] = {
    "seq_read": ("read", "4M", 64),
    "seq_write": ("write", "4M", 64),
    "rand_read_4M": ("randread", "4M", 64),
    "rand_write_4M": ("randwrite", "4M", 64),
    "rand_read_4K": ("randread", "4K", 64),
    "rand_write_4K": ("randwrite", "4K", 64),
    "rand_read_4K_lowdepth": ("randread", "4K", 1),
    "rand_write_4K_lowdepth": ("randwrite", "4K", 1),
}
# Writes first: reads of a thin volume that was never written measure nothing but
# Ceph answering "no such object".
TEST_ORDER = ("seq_write", "seq_read", "rand_write_4M", "rand_read_4M", "rand_write_4K",
              "rand_read_4K", "rand_write_4K_lowdepth", "rand_read_4K_lowdepth")

GiB = 1024**3


@dataclass(frozen=True)
class BenchmarkOptions:
    """How a job runs: seconds per test and the size of its temporary volume. PVC runs
    each test for a minute on a 64 GiB volume; tests and benchmarks use less (set
    `app.state.benchmark_options` on the API)."""

    runtime: int = 60
    volume_size: int = 64 * GiB

    def __post_init__(self) -> None:
        if not 1 <= self.runtime <= 3600:
            raise InvalidArgument(f"A benchmark test runs 1-3600 s, not {self.runtime}")
        if self.volume_size < 64 * 1024**2:
            raise InvalidArgument("A benchmark volume needs at least 64 MiB")

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


def options_of(state: Any) -> BenchmarkOptions:
    """The options an API app runs benchmarks with (its `state.benchmark_options`)."""
    options = getattr(state, "benchmark_options", None)
    return options if isinstance(options, BenchmarkOptions) else BenchmarkOptions()


def job_name(name: str | None, now: float | None = None) -> str:
    """The job's name: the one asked for, else the local date and time (YYYYmmddHHMMSS)."""
    if name:
        return names.storage_name(name, "benchmark job name")
    return time.strftime("%Y%m%d%H%M%S", time.localtime(now))


def check_run(store: Store, pool: str, name: str | None) -> None:
    """Refuse a job on a pool that PVC does not know, or under a name already used."""
    names.storage_name(pool, "pool name")
    require_pool(store, pool)
    if name is not None and store.exists("benchmark", job=job_name(name)):
        raise AlreadyExists(f'A benchmark job named "{name}" already exists')


def view(job: str, record: Any) -> dict[str, Any]:
    record = record if isinstance(record, dict) else {}
    return {
        "id": str(record.get("id", "")),
        "job": job,
        "test_format": int(record.get("test_format", TEST_FORMAT)),
        "benchmark_result": record.get("benchmark_result", RUNNING),
    }


def list_benchmarks(store: Store, job: str | None = None) -> list[dict[str, Any]]:
    """The jobs (or only `job`), by name; NotFound when there are none."""
    if job is not None:
        record = store.read("benchmark", default=None, job=names.storage_name(
            job, "benchmark job name"))
        if record is None:
            raise NotFound(f'Benchmark job "{job}" not found')
        return [view(job, record)]
    found = [view(j, r) for j, r in _records(store)]
    if not found:
        raise NotFound("No benchmark found.")
    return found


def _records(store: Store) -> list[tuple[str, Any]]:
    """(job, record) of every job, by name (one pipelined read)."""
    jobs = sorted(store.children_of(store.path("root.ceph.benchmarks")) or [])
    records = store.read_many(("benchmark", {"job": j}) for j in jobs)
    return [(j, r) for j, r in zip(jobs, records, strict=True) if r is not None]


def job_of_task(store: Store, task_id: str) -> tuple[str, dict[str, Any]] | None:
    """The job (name, record) that the task `task_id` started, if any (an earlier run of
    the same task that was cut short left it)."""
    return next(((j, r) for j, r in _records(store)
                 if isinstance(r, dict) and r.get("id") == task_id), None)


def start_record(store: Store, job: str, task_id: str, pool: str) -> None:
    """The record of a job that starts (AlreadyExists if the name is taken)."""
    try:
        store.txn().create("benchmark", {"id": task_id, "pool": pool, "started": time.time(),
                                         "test_format": TEST_FORMAT,
                                         "benchmark_result": RUNNING}, job=job).commit()
    except AlreadyExists:
        raise AlreadyExists(f'A benchmark job named "{job}" already exists') from None


def finish_record(store: Store, job: str, results: dict[str, Any]) -> None:
    record, version = store.read_versioned("benchmark", job=job)
    store.write("benchmark", {**record, "finished": time.time(), "benchmark_result": results},
                version=version, job=job)


def forget(store: Store, job: str) -> None:
    """Remove a job's record (a failed job leaves nothing behind)."""
    with contextlib.suppress(NotFound):
        store.txn().delete("benchmark", job=job).commit()
