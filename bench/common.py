"""Shared pieces of the benchmarks: a bench cluster, an API prober, medians."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import httpx

from pvc.common.errors import BackendError
from pvc.devcluster import cluster
from pvc.devcluster.layout import ClusterSpec
from pvc.state.store import Store


def bench_spec(nodes: int = 3, coordinators: int = 3) -> ClusterSpec:
    """The benchmarks' own cluster, apart from `dev` and the test clusters."""
    return ClusterSpec(name="pvcbench", prefix="pb", subnet=75, nodes=nodes,
                       coordinators=coordinators)


def end_cleanly_on_sigterm() -> None:
    """SIGTERM (a harness's timeout, `kill`) ends the bench like Ctrl-C: its `finally`
    blocks run, so it leaves no cluster, server or process behind."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)


def api(spec: ClusterSpec, timeout: float = 300) -> httpx.Client:
    """An HTTP client of the cluster's API, with its key (long waits allowed)."""
    return httpx.Client(base_url=spec.api_url(), headers={"X-Api-Key": spec.api_key},
                        timeout=timeout)


def uuid_of(c: httpx.Client, name: str) -> str:
    """The UUID of the VM `name` (PVC answers one VM as a one-item list)."""
    body = c.get(f"/vm/{name}").json()
    return str((body[0] if isinstance(body, list) else body)["uuid"])


def define_and_start(c: httpx.Client, name: str, node: str, xml: str) -> str:
    """Define the VM on `node`, start it and wait until it runs; its UUID."""
    r = c.post("/vm", data={"xml": xml}, params={"node": node})
    if r.status_code != 200:
        raise BackendError(f"define {name}: {r.text}")
    r = c.post(f"/vm/{name}/state", params={"state": "start", "wait": "true"})
    if r.status_code != 200:
        raise BackendError(f"start {name}: {r.text}")
    return uuid_of(c, name)


# Kinds of host load for stress-ng (`stress_load`).
STRESSORS = ("cpu", "memory", "io")
WORKERS_PER_CORE = 4  # CPU workers: several times the core count
MEMORY_SHARE = "40%"  # of the host's memory, split among the vm workers
IO_WORKERS = 2
IO_BYTES = "1g"  # per hdd worker


def stress_ng() -> str:
    path = shutil.which("stress-ng")
    if path is None:
        raise BackendError("stress-ng is not installed (./pvc-dev installs it)")
    return path


def stress_load(kinds: Sequence[str]) -> list[str]:
    """stress-ng's arguments for the kinds of load: `cpu` (four workers a core),
    `memory` (a vm worker a core re-dirtying MEMORY_SHARE of the memory), `io` (hdd
    workers writing and syncing files in stress-ng's --temp-path)."""
    cores = os.cpu_count() or 1
    args: list[str] = []
    if "cpu" in kinds:
        args += ["--cpu", str(WORKERS_PER_CORE * cores)]
    if "memory" in kinds:
        args += ["--vm", str(cores), "--vm-bytes", MEMORY_SHARE, "--vm-keep"]
    if "io" in kinds:
        args += ["--hdd", str(IO_WORKERS), "--hdd-bytes", IO_BYTES]
    return args


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextmanager
def bench_cluster(nodes: int = 3, coordinators: int = 3) -> Iterator[ClusterSpec]:
    end_cleanly_on_sigterm()
    spec = bench_spec(nodes, coordinators)
    try:
        spec = cluster.up(spec, timeout=240)
        yield spec
    finally:
        cluster.down(spec)


class Prober:
    """GETs the API root every `interval` seconds and records when answers succeed."""

    def __init__(self, spec: ClusterSpec, interval: float = 0.02) -> None:
        self.url = spec.api_url() + "/"
        self.headers = {"X-Api-Key": spec.api_key}
        self.interval = interval
        self.ok: list[float] = []  # when each successful request was sent
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=0.25, headers=self.headers) as c:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    # a fresh connection each time, as a new client would make
                    r = c.get(self.url, headers={"Connection": "close"})
                    if r.status_code == 200:
                        self.ok.append(sent)
                    else:
                        self.failed += 1
                except httpx.HTTPError:
                    self.failed += 1
                time.sleep(self.interval)

    def start(self) -> Prober:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def longest_gap(self, since: float) -> float:
        """The longest time without a successful answer after `since`."""
        stamps = [since] + [t for t in self.ok if t > since]
        return max((b - a for a, b in itertools.pairwise(stamps)), default=0.0)

    def first_ok_after(self, t: float) -> float | None:
        """When the first request sent after `t` that succeeded was sent."""
        return next((x for x in self.ok if x > t), None)


def median_line(label: str, values: list[float], goal: float | None = None,
                unit: str = "s") -> str:
    med = statistics.median(values)
    parts = [f"{label}: median {med:.2f} {unit}",
             f"min {min(values):.2f}", f"max {max(values):.2f}", f"n={len(values)}"]
    if goal:
        parts.append(f"goal {goal:.2f} {unit} (median/goal {med / goal:.2f})")
    return ", ".join(parts)


def wait_primary_change(spec: ClusterSpec, store: Store, old: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = cluster.node_states(spec, store)
        prim = [n for n, s in states.items() if s["coordinator_state"] == "primary"
                and s["daemon_state"] == "run"]
        if prim and prim[0] != old:
            return prim[0]
        time.sleep(0.1)
    raise TimeoutError(f"no new primary after {old}")
