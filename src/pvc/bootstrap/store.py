"""The bootstrap daemon's own record (SQLite): each node's and cluster's stage and what
was learnt about them, and every event in order. It is what a restarted daemon resumes
from, and what `pvcbootstrapd status` shows.

Every change is one SQLite transaction, made under one lock (the HTTP handlers and the
worker share one connection).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvc.bootstrap import stages
from pvc.common.errors import InvalidArgument, NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS clusters (
    name TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    cluster TEXT NOT NULL REFERENCES clusters(name),
    hostname TEXT NOT NULL,
    bmc_mac TEXT NOT NULL UNIQUE,
    redfish INTEGER NOT NULL,
    stage TEXT NOT NULL,
    node_mac TEXT UNIQUE,
    bmc_ip TEXT,
    node_ip TEXT,
    facts TEXT NOT NULL DEFAULT '{}',
    updated REAL NOT NULL,
    PRIMARY KEY (cluster, hostname)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    cluster TEXT NOT NULL,
    hostname TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class NodeRecord:
    cluster: str
    hostname: str
    bmc_mac: str
    redfish: bool
    stage: str
    node_mac: str | None
    bmc_ip: str | None
    node_ip: str | None
    facts: dict[str, Any] = field(default_factory=dict)
    updated: float = 0.0


@dataclass(frozen=True)
class Event:
    id: int
    at: float
    cluster: str
    hostname: str  # "" for the cluster's own events
    stage: str
    status: str
    message: str


_NODE_COLUMNS = "cluster, hostname, bmc_mac, redfish, stage, node_mac, bmc_ip, node_ip, facts, " \
    "updated"
_SETTABLE = ("node_mac", "bmc_ip", "node_ip")


def _node(row: tuple[Any, ...]) -> NodeRecord:
    return NodeRecord(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7],
                      json.loads(row[8]), row[9])


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- what bootstrap.yml names ---

    def ensure_cluster(self, name: str, nodes: list[tuple[str, str, bool, str]]) -> list[str]:
        """Record a cluster and its nodes ((hostname, bmc_mac, redfish, node_mac or "")) that
        are not yet recorded, in `waiting`; the hostnames added. Nodes already recorded keep
        their stage (this is how a restarted daemon resumes)."""
        now = time.time()
        added = []
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO clusters VALUES (?, ?, ?)",
                       (name, stages.CLUSTER_STAGES[0], now))
            for hostname, bmc_mac, redfish, node_mac in nodes:
                taken = db.execute("SELECT cluster, hostname FROM nodes WHERE bmc_mac = ?",
                                   (bmc_mac,)).fetchone()
                if taken is not None and tuple(taken) != (name, hostname):
                    raise InvalidArgument(f"BMC {bmc_mac} of {name}/{hostname} is already "
                                          f"{taken[0]}/{taken[1]}'s")
                row = db.execute("SELECT bmc_mac, node_mac FROM nodes WHERE cluster = ? AND "
                                 "hostname = ?", (name, hostname)).fetchone()
                try:
                    if row is None:
                        db.execute("INSERT INTO nodes (cluster, hostname, bmc_mac, redfish, "
                                   "stage, node_mac, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   (name, hostname, bmc_mac, int(redfish),
                                    stages.NODE_STAGES[0], node_mac or None, now))
                        added.append(hostname)
                    elif (bmc_mac, node_mac or row[1]) != tuple(row):  # changed since
                        db.execute("UPDATE nodes SET bmc_mac = ?, node_mac = ? WHERE "
                                   "cluster = ? AND hostname = ?",
                                   (bmc_mac, node_mac or row[1], name, hostname))
                except sqlite3.IntegrityError:
                    raise InvalidArgument(f"NIC {node_mac} of {name}/{hostname} is already "
                                          "another node's") from None
        return added

    # --- reading ---

    def clusters(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT name, stage FROM clusters ORDER BY name"))

    def cluster_stage(self, name: str) -> str:
        with self._lock:
            row = self._db.execute("SELECT stage FROM clusters WHERE name = ?",
                                   (name,)).fetchone()
        if row is None:
            raise NotFound(f"cluster {name!r} is not known")
        return str(row[0])

    def nodes(self, cluster: str | None = None) -> list[NodeRecord]:
        query = f"SELECT {_NODE_COLUMNS} FROM nodes"
        params: tuple[str, ...] = ()
        if cluster is not None:
            query, params = query + " WHERE cluster = ?", (cluster,)
        with self._lock:
            return [_node(r) for r in self._db.execute(query + " ORDER BY cluster, hostname",
                                                       params)]

    def node(self, cluster: str, hostname: str) -> NodeRecord:
        with self._lock:
            row = self._db.execute(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE cluster = ? "
                                   "AND hostname = ?", (cluster, hostname)).fetchone()
        if row is None:
            raise NotFound(f"node {cluster}/{hostname} is not known")
        return _node(row)

    def node_by_mac(self, mac: str) -> NodeRecord | None:
        """The node whose BMC or bootstrap NIC has this MAC."""
        with self._lock:
            row = self._db.execute(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE bmc_mac = ? OR "
                                   "node_mac = ?", (mac, mac)).fetchone()
        return None if row is None else _node(row)

    def events(self, after: int = 0, cluster: str | None = None) -> list[Event]:
        query = "SELECT id, at, cluster, hostname, stage, status, message FROM events " \
            "WHERE id > ?"
        params: tuple[Any, ...] = (after,)
        if cluster is not None:
            query, params = query + " AND cluster = ?", (after, cluster)
        with self._lock:
            return [Event(*r) for r in self._db.execute(query + " ORDER BY id", params)]

    # --- changes ---

    def update_node(self, cluster: str, hostname: str, facts: dict[str, Any] | None = None,
                    **values: str | None) -> NodeRecord:
        """Record what was learnt of a node (its NIC's MAC, addresses, facts)."""
        unknown = set(values) - set(_SETTABLE)
        if unknown:
            raise InvalidArgument(f"cannot set {', '.join(sorted(unknown))} of a node")
        with self._tx() as db:
            row = db.execute("SELECT facts FROM nodes WHERE cluster = ? AND hostname = ?",
                             (cluster, hostname)).fetchone()
            if row is None:
                raise NotFound(f"node {cluster}/{hostname} is not known")
            merged = {**json.loads(row[0]), **(facts or {})}
            sets = ", ".join(f"{k} = ?" for k in values)
            db.execute(f"UPDATE nodes SET {sets + ', ' if sets else ''}facts = ?, updated = ? "
                       "WHERE cluster = ? AND hostname = ?",
                       (*values.values(), json.dumps(merged, sort_keys=True), time.time(),
                        cluster, hostname))
        return self.node(cluster, hostname)

    def advance_node(self, cluster: str, hostname: str, stage: str, status: str,
                     message: str) -> bool:
        """Move a node forward to `stage` and record the event; False (and nothing
        recorded) when it is already there or further."""
        with self._tx() as db:
            row = db.execute("SELECT stage FROM nodes WHERE cluster = ? AND hostname = ?",
                             (cluster, hostname)).fetchone()
            if row is None:
                raise NotFound(f"node {cluster}/{hostname} is not known")
            if not stages.node_forward(row[0], stage):
                return False
            now = time.time()
            db.execute("UPDATE nodes SET stage = ?, updated = ? WHERE cluster = ? AND "
                       "hostname = ?", (stage, now, cluster, hostname))
            db.execute("INSERT INTO events (at, cluster, hostname, stage, status, message) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (now, cluster, hostname, stage, status,
                                                      message))
        return True

    def advance_cluster(self, cluster: str, stage: str, status: str, message: str) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT stage FROM clusters WHERE name = ?", (cluster,)).fetchone()
            if row is None:
                raise NotFound(f"cluster {cluster!r} is not known")
            if not stages.cluster_forward(row[0], stage):
                return False
            now = time.time()
            db.execute("UPDATE clusters SET stage = ?, updated = ? WHERE name = ?",
                       (stage, now, cluster))
            db.execute("INSERT INTO events (at, cluster, hostname, stage, status, message) "
                       "VALUES (?, ?, '', ?, ?, ?)", (now, cluster, stage, status, message))
        return True

    def note(self, cluster: str, hostname: str, stage: str, status: str, message: str) -> None:
        """An event that moves no stage (news, or a step within one)."""
        with self._tx() as db:
            db.execute("INSERT INTO events (at, cluster, hostname, stage, status, message) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (time.time(), cluster, hostname, stage,
                                                      status, message))

    def reset_node(self, cluster: str, hostname: str) -> None:
        """Start a node over (after the operator fixed what failed)."""
        with self._tx() as db:
            cur = db.execute("UPDATE nodes SET stage = ?, updated = ? WHERE cluster = ? AND "
                             "hostname = ?", (stages.NODE_STAGES[0], time.time(), cluster,
                                              hostname))
            if not cur.rowcount:
                raise NotFound(f"node {cluster}/{hostname} is not known")
            db.execute("INSERT INTO events (at, cluster, hostname, stage, status, message) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (time.time(), cluster, hostname,
                                                      stages.NODE_STAGES[0], stages.INFO,
                                                      "reset by the operator"))

    def reset_cluster(self, name: str) -> str:
        """Start a failed cluster's configuration over from the step it failed in (Ansible
        or the hooks; both may run again), once the operator fixed what failed. Returns
        that step."""
        with self._tx() as db:
            row = db.execute("SELECT stage FROM clusters WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"cluster {name} is not known")
            if row[0] != stages.FAILED:
                raise InvalidArgument(f"cluster {name} is {row[0]}, not {stages.FAILED}: "
                                      "only a failed cluster starts over")
            step = db.execute(
                "SELECT stage FROM events WHERE cluster = ? AND hostname = '' AND stage IN "
                "(?, ?) ORDER BY id DESC LIMIT 1",
                (name, *stages.CLUSTER_STEPS)).fetchone()
            again = step[0] if step else stages.CLUSTER_STAGES[0]
            now = time.time()
            db.execute("UPDATE clusters SET stage = ?, updated = ? WHERE name = ?",
                       (again, now, name))
            db.execute("INSERT INTO events (at, cluster, hostname, stage, status, message) "
                       "VALUES (?, ?, '', ?, ?, ?)",
                       (now, name, again, stages.INFO,
                        f"cluster {name}: reset by the operator; {again} again"))
        return again
