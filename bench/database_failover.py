"""The provisioner's PostgreSQL under Patroni losing its leader: the leader's node is powered
off through its BMC while a client writes a row every 50 ms (through the same multi-host
connection the API uses, `target_session_attrs=read-write`), and the longest time without
a committed write is measured; against the longest in a quiet 20 s, and the leader TTL
(10 s) that bounds Patroni's detection. Every row committed before the power-off must be
there after it.

    sudo .venv/bin/python -m bench.database_failover [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import threading
import time

from sqlalchemy import Column, Integer, MetaData, Table, select
from sqlalchemy.dialects.postgresql import insert

from bench.common import bench_cluster, median_line, say
from pvc.db.engine import Database
from pvc.db.spec import DatabaseSpec
from pvc.devcluster import cluster, patroni
from pvc.devcluster.layout import ClusterSpec
from pvc.drivers.fencing.ipmi import IpmiTool

TTL = 10.0
ROWS = Table("bench_failover", MetaData(), Column("n", Integer, primary_key=True))


def leader(spec: ClusterSpec) -> str | None:
    return next((n for n, role in patroni.roles(spec).items() if role == "leader"), None)


def wait_leader_and_standby(spec: ClusterSpec, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        roles = patroni.roles(spec)
        if {"leader", "sync_standby"} <= set(roles.values()):
            return next(n for n, role in roles.items() if role == "leader")
        time.sleep(1)
    raise SystemExit("Patroni has no leader with a synchronous standby")


class Writer:
    """Inserts 1, 2, 3, ... every `interval` s; records when each commit returned."""

    def __init__(self, db: Database, interval: float = 0.05) -> None:
        self.db = db
        self.interval = interval
        self.committed: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = self.committed[-1][0] + 1 if self.committed else 1
        while not self._stop.is_set():
            try:
                # a commit whose answer was lost with the leader is retried: it is a no-op
                self.db.run(lambda s, n=n: s.execute(  # type: ignore[misc]
                    insert(ROWS).values(n=n).on_conflict_do_nothing()))
            except Exception:  # the retry time ran out: try again
                continue
            self.committed.append((n, time.monotonic()))
            n += 1
            self._stop.wait(self.interval)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def longest_gap(self, since: float) -> float:
        times = [t for _, t in self.committed if t >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with bench_cluster() as spec:
        wait_leader_and_standby(spec)
        hosts = [str(spec.node_address(c, "cluster").ip) for c in spec.coordinator_names]
        db = Database(DatabaseSpec(hosts=hosts, port=patroni.PG_PORT,
                                   database=patroni.API_DATABASE, username=patroni.API_USER,
                                   password=patroni.password(spec, patroni.API_USER)),
                      retry_for=60)
        with db.engine.begin() as conn:
            ROWS.create(conn, checkfirst=True)
        writer = Writer(db).start()
        time.sleep(1)
        start = time.monotonic()
        time.sleep(20)
        quiet = writer.longest_gap(start)
        say(f"quiet 20 s: longest gap between commits {quiet:.3f} s")
        gaps: list[float] = []
        for run in range(args.runs):
            old = wait_leader_and_standby(spec)
            before = writer.committed[-1][0]
            cut = time.monotonic()
            IpmiTool(str(spec.bmc_address(old)), spec.ipmi_username,
                     spec.ipmi_password).power_off()
            while not writer.committed or writer.committed[-1][1] < cut + 1:
                time.sleep(0.1)
                if time.monotonic() - cut > 120:
                    raise SystemExit("no write committed 120 s after the power-off")
            gap = writer.longest_gap(cut - 1)
            gaps.append(gap)
            new = leader(spec)
            kept = db.run(lambda s, b=before: s.scalars(  # type: ignore[misc]
                select(ROWS.c.n).where(ROWS.c.n <= b)).all())
            lost = before - len(kept)
            say(f"run {run + 1}: leader {old} off -> {new}: no commit for {gap:.2f} s; "
                f"{lost} of {before} committed rows lost")
            if lost:
                raise SystemExit(f"{lost} committed rows were lost")
            IpmiTool(str(spec.bmc_address(old)), spec.ipmi_username,
                     spec.ipmi_password).power_on()
            cluster.wait_ready(spec, 240)
        writer.stop()
        db.close()
        print(median_line("database leader power-off: longest time without a commit", gaps,
                          TTL)
              + f"; {statistics.median(gaps) / max(quiet, 0.001):.0f}x the quiet 20 s's "
              f"longest ({quiet:.3f} s); no committed row lost")


if __name__ == "__main__":
    main()
