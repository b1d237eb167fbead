"""No false fences under load: the host's CPUs saturated (stress-ng, four workers per
core) for ten minutes while the dev cluster runs VMs and flushes and readies a node over
and over. It counts what must stay zero (fences, self-fences, VM restarts) and prints
how close the nodes came to being judged dead: the longest keepalive silence the primary
saw, against the same figure for a quiet minute measured first in the same run.

`--stress cpu,memory,io` adds memory pressure (stress-ng's vm workers touching
`bench.common.MEMORY_SHARE` of the host's memory over and over) and disk pressure (hdd workers writing
and syncing files in the bench cluster's own directory, which goes with it).

Run: sudo .venv/bin/python -m bench.load_fences [--seconds 600] [--quiet-seconds 60]
     [--stress cpu,memory,io]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import threading
import time

import httpx

from bench.common import (
    STRESSORS,
    api,
    bench_cluster,
    define_and_start,
    say,
    stress_load,
    stress_ng,
)
from pvc.common.errors import BackendError
from pvc.devcluster import cluster, demo
from pvc.devcluster.layout import ClusterSpec
from pvc.ops.node import logs
from pvc.state.store import Store

VMS = 3
# what the nodes' logs say when it happens (pvc.node.ha.fencing, .self_fence)
FENCE_WORDS = ("Fencing node", "is dead: fencing it")
SELF_FENCE_WORDS = ("Self-fencing after",)


class SilenceSampler:
    """The age of every node's last keepalive, as the primary would judge it, sampled
    every 0.2 s: the longest silence seen."""

    def __init__(self, spec: ClusterSpec, store: Store) -> None:
        self.spec, self.store = spec, store
        self.longest = 0.0
        self.who = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                stamps = self.store.read_many([("node.keepalive", {"node": n})
                                               for n in self.spec.node_names])
            except Exception:  # ZooKeeper itself starved: the next look tells
                continue
            now = time.time()
            for node, stamp in zip(self.spec.node_names, stamps, strict=True):
                if isinstance(stamp, int | float) and now - stamp > self.longest:
                    self.longest, self.who = now - stamp, node

    def __enter__(self) -> SilenceSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def start_vms(spec: ClusterSpec) -> dict[str, str]:
    uuids = {}
    with api(spec, 600) as c:
        for i in range(VMS):
            name = f"load{i}"
            node = spec.node_names[i % len(spec.node_names)]
            uuids[name] = define_and_start(c, name, node,
                                           demo.vm_xml(spec, name, memory_mib=96))
    return uuids


class BootWatcher:
    """The boot ids the guests print (`PVC-GUEST-BOOTED <name> <boot id>`), read from
    their consoles every 20 s: a guest that was started again shows a new one (a live
    migration keeps the running guest, and so its boot id)."""

    def __init__(self, spec: ClusterSpec, names: list[str]) -> None:
        self.spec, self.names = spec, names
        self.boots: dict[str, set[str]] = {n: set() for n in names}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def look(self) -> None:
        with api(self.spec, 600) as c:
            for name in self.names:
                r = c.get(f"/vm/{name}/console", params={"lines": 200})
                if r.status_code != 200:
                    continue
                for line in str(r.json().get("data", "")).splitlines():
                    words = line.split()
                    if len(words) == 3 and words[:2] == [demo.BOOT_MARKER, name]:
                        self.boots[name].add(words[2])

    def _run(self) -> None:
        while not self._stop.wait(20):
            try:
                self.look()
            except httpx.HTTPError:  # the API moving: the next look tells
                continue

    def __enter__(self) -> BootWatcher:
        self.look()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self.look()

    def restarts(self) -> int:
        return sum(max(0, len(ids) - 1) for ids in self.boots.values())


def logged(store: Store, spec: ClusterSpec, words: tuple[str, ...], since: float) -> list[str]:
    lines = []
    for node in spec.node_names:
        for line in logs.node_log(store, node, 2000, 2000).splitlines():
            if any(w in line for w in words) and line[:19] >= time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.localtime(since)):
                lines.append(f"{node}: {line}")
    return lines


def flush_ready_cycles(spec: ClusterSpec, node: str, until: float,
                       done: list[float], errors: list[str]) -> None:
    with api(spec, 600) as c:
        while time.monotonic() < until:
            began = time.monotonic()
            for state in ("flush", "ready"):
                r = c.post(f"/node/{node}/domain-state", params={"state": state,
                                                                 "wait": "true"})
                if r.status_code != 200:
                    errors.append(f"{state} {node}: {r.status_code} {r.text[:200]}")
                    time.sleep(5)
            done.append(time.monotonic() - began)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600.0, help="how long the load lasts")
    ap.add_argument("--quiet-seconds", type=float, default=60.0,
                    help="the quiet baseline measured first")
    ap.add_argument("--stress", default="cpu",
                    help=f"the kinds of load, comma-separated: {', '.join(STRESSORS)}")
    args = ap.parse_args()
    kinds = [k.strip() for k in args.stress.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(STRESSORS))
    if unknown or not kinds:
        raise SystemExit(f"--stress: unknown kind(s) {', '.join(unknown) or '(none)'}; "
                         f"use {', '.join(STRESSORS)}")
    try:
        stress = stress_ng()
    except BackendError as exc:
        raise SystemExit(str(exc)) from None
    load = stress_load(kinds)
    with bench_cluster() as spec:
        store = cluster.zk_store(spec)
        proc: subprocess.Popen[bytes] | None = None
        try:
            uuids = start_vms(spec)
            boots = BootWatcher(spec, sorted(uuids))
            boots.__enter__()
            t0 = time.time()
            with SilenceSampler(spec, store) as quiet:
                time.sleep(args.quiet_seconds)
            say(f"quiet: longest keepalive silence {quiet.longest:.2f} s ({quiet.who})")
            workdir = spec.state_dir / "load"
            workdir.mkdir(parents=True, exist_ok=True)
            proc = subprocess.Popen([stress, *load, "--timeout", f"{int(args.seconds)}s",
                                     "--quiet", "--temp-path", str(workdir)],
                                    start_new_session=True, cwd=workdir)
            say(f"stress-ng for {args.seconds:.0f} s: {' '.join(load)}")
            cycles: list[float] = []
            errors: list[str] = []
            victim = spec.node_names[-1]
            with SilenceSampler(spec, store) as loaded:
                flush_ready_cycles(spec, victim, time.monotonic() + args.seconds, cycles,
                                   errors)
            boots.__exit__()
            fences = logged(store, spec, FENCE_WORDS, t0)
            self_fences = logged(store, spec, SELF_FENCE_WORDS, t0)
            restarts = boots.restarts()
        finally:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            cluster.close(store)
    print(f"load: {', '.join(kinds)} ({' '.join(load)}) on {os.cpu_count()} cores "
          f"for {args.seconds:.0f} s, "
          f"{len(cycles)} flush/ready cycles of {victim} (median "
          f"{sorted(cycles)[len(cycles) // 2] if cycles else 0:.1f} s), "
          f"{len(errors)} refused")
    print(f"fences: {len(fences)}, self-fences: {len(self_fences)}, VM restarts: {restarts} "
          "(goal: 0, 0, 0)")
    print(f"longest keepalive silence: loaded {loaded.longest:.2f} s ({loaded.who}), quiet "
          f"{quiet.longest:.2f} s ({quiet.who}), ratio "
          f"{loaded.longest / quiet.longest if quiet.longest else 0:.1f}x; a node is dead "
          "after 4 s")
    for line in (fences + self_fences + errors)[:20]:
        print(f"  {line}")
    if fences or self_fences or restarts:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
