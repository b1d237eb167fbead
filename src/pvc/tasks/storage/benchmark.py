"""`storage.benchmark`: PVC's storage benchmark of a pool, on the primary's worker.

The job makes a temporary RBD volume `pvcbench_<task id>` in the pool, runs fio's rbd
engine against it for each of PVC's tests (`pvc.ops.storage.benchmark.TESTS`: sequential
4M read/write, random 4M, 4K and 4K at queue depth 1 read/write), keeps fio's JSON output
of each test as the job's result (test format 1) and removes the volume, whatever happened.
Progress is reported per test.

fio reaches Ceph through librados itself: it is given the client name, and the cluster's
ceph.conf and keyring through CEPH_CONF/CEPH_KEYRING (its rbd engine has no option for
them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from pvc.common import names
from pvc.common.errors import BackendError, InvalidArgument, InvalidState, NotFound, PVCError
from pvc.drivers.storage.base import Storage
from pvc.node.storage import rbd_locks
from pvc.ops.storage import benchmark as jobs
from pvc.tasks import catalogue, context, progress
from pvc.tasks.registry import register

log = logging.getLogger("pvcworkerd")

CLIENT_NAME = "admin"
# fio needs a moment beyond its runtime to connect, lay out and report.
FIO_GRACE = 120.0
# Removing the temporary volume: retried this long while a dead fio's watch lingers.
REMOVE_TIMEOUT = 60.0
REMOVE_RETRY = 0.5


def volume_for(task_id: str) -> str:
    return names.storage_name(f"pvcbench_{task_id}", "benchmark volume name")


def fio_command(test: str, pool: str, volume: str, runtime: int) -> list[str]:
    """The fio command line of one of PVC's tests against an RBD volume."""
    try:
        readwrite, block_size, iodepth = jobs.TESTS[test]
    except KeyError:
        raise InvalidArgument(f"Unknown benchmark test {test!r}") from None
    fio = shutil.which("fio")
    if fio is None:
        raise BackendError("fio is not installed on this node")
    return [
        fio, f"--name={test}", "--ioengine=rbd", f"--clientname={CLIENT_NAME}",
        f"--pool={names.storage_name(pool, 'pool name')}",
        f"--rbdname={names.storage_name(volume, 'volume name')}",
        f"--readwrite={readwrite}", f"--bs={block_size}", f"--iodepth={iodepth}",
        "--direct=1", "--randrepeat=1", "--numjobs=1", "--group_reporting",
        "--time_based", f"--runtime={int(runtime)}", "--eta=never", "--output-format=json",
    ]


def parse_fio(output: str) -> dict[str, Any]:
    """fio's JSON report (it may print warnings before it)."""
    start = output.find("{")
    try:
        data = json.loads(output[start:]) if start >= 0 else None
    except json.JSONDecodeError as exc:
        raise BackendError(f"fio's output is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list) or not data["jobs"]:
        raise BackendError("fio's report has no jobs")
    return data


def run_test(test: str, pool: str, volume: str, runtime: int, ceph_conf: Path,
             keyring: Path | None = None) -> dict[str, Any]:
    """Run one test; fio's report (BackendError when fio fails)."""
    cmd = fio_command(test, pool, volume, runtime)
    env = {**os.environ, "CEPH_CONF": str(ceph_conf)}
    if keyring is not None:
        env["CEPH_KEYRING"] = str(keyring)
    try:
        done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=runtime + FIO_GRACE, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"fio test {test} did not finish within {exc.timeout:.0f} s") \
            from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BackendError(f"fio test {test} failed (exit {done.returncode}): "
                           f"{' '.join(detail) or 'no output'}")
    report = parse_fio(done.stdout)
    error = report["jobs"][0].get("error", 0)
    if error:
        raise BackendError(f"fio test {test} reported error {error}")
    return report


def remove_volume(storage: Storage, pool: str, volume: str,
                  timeout: float = REMOVE_TIMEOUT) -> bool:
    """Remove the temporary volume (whether it was removed). An fio that died or was
    killed may have left its lock and watch on it: the lock is broken (which blocklists
    that dead client, and so ends its watch) and the removal tried again. A failure here
    is logged, not raised over the job's own outcome."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            storage.volume_remove(pool, volume)
            return True
        except NotFound:
            return True
        except InvalidState as exc:  # still open: by our dead fio, nobody else uses it
            error: PVCError = exc
            with contextlib.suppress(PVCError):
                rbd_locks.flush(storage, [f"{pool}/{volume}"])
        except PVCError as exc:
            error = exc
        if time.monotonic() > deadline:
            log.error("Could not remove the benchmark volume %s/%s: %s", pool, volume, error)
            return False
        time.sleep(REMOVE_RETRY)


@register(catalogue.STORAGE_BENCHMARK)
def benchmark(task: Any, pool: str, name: str | None = None, runtime: int = 60,
              volume_size: int = 64 * jobs.GiB) -> dict[str, Any]:
    """Benchmark `pool`; the results are stored under the job name (`name`, or the time)."""
    options = jobs.BenchmarkOptions(runtime=int(runtime), volume_size=int(volume_size))
    names.storage_name(pool, "pool name")
    tests = jobs.TEST_ORDER
    total = len(tests) + 2
    progress.start(task, total, f"Preparing the benchmark of pool {pool}")
    store, storage, config = context.store(), context.storage(), context.config()
    task_id = str(task.request.id)
    volume = volume_for(task_id)
    earlier = jobs.job_of_task(store, task_id)
    if earlier is None:
        job = jobs.job_name(name)
        jobs.start_record(store, job, task_id, pool)
    else:  # an earlier run of this task was cut short (its worker died): its job
        job, record = earlier
        if record.get("benchmark_result", jobs.RUNNING) != jobs.RUNNING:
            return progress.finish(task, _finished(job, pool))
        progress.update(task, 0, total, f"Removing the test volume {pool}/{volume} that "
                                        "an earlier run of this task left")
        remove_volume(storage, pool, volume)
    results: dict[str, Any] = {}
    created = False
    try:
        progress.update(task, 0, total, f"Creating the test volume {pool}/{volume}")
        storage.volume_create(pool, volume, options.volume_size)
        created = True
        for step, test in enumerate(tests, start=1):
            progress.update(task, step, total, f"Running test {test} ({step}/{len(tests)})")
            results[test] = run_test(test, pool, volume, options.runtime,
                                     config.ceph_config_file, config.ceph_keyring_file)
        progress.update(task, total - 1, total, f"Removing the test volume {pool}/{volume}")
    except BaseException:
        with contextlib.suppress(PVCError):
            jobs.forget(store, job)
        raise
    finally:
        if created:
            remove_volume(storage, pool, volume)
    jobs.finish_record(store, job, results)
    return progress.finish(task, _finished(job, pool))


def _finished(job: str, pool: str) -> str:
    return (f'Storage benchmark job "{job}" of pool {pool} finished; '
            f"see `pvc storage benchmark info {job}`")
