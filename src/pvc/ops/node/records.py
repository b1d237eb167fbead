"""Reading node records: one node, all nodes, and the list filters of `GET /node`."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from pvc.common import names
from pvc.common.errors import InvalidArgument, NotFound
from pvc.ops.node.health import NodeHealth, keepalive_limit, node_health
from pvc.state.store import Store

log = logging.getLogger(__name__)

DAEMON_STATES = ("init", "run", "shutdown", "stop", "dead", "fenced")
COORDINATOR_STATES = ("client", "secondary", "takeover", "primary", "relinquish")
DOMAIN_STATES = ("ready", "flush", "flushed", "unflush", "fence-flush")
LIMIT_MAX_LENGTH = 256

# The keys of a node that a node listing reads, in this order.
_FIELDS = (
    "node",
    "node.daemon_state",
    "node.coordinator_state",
    "node.domain_state",
    "node.keepalive",
    "node.pvc_version",
    "node.static",
    "node.stats",
)


@dataclass(frozen=True)
class Memory:
    total: int = 0
    used: int = 0
    free: int = 0
    allocated: int = 0
    provisioned: int = 0


@dataclass(frozen=True)
class NodeRecord:
    name: str
    mode: str
    daemon_state: str
    coordinator_state: str
    domain_state: str
    keepalive: float
    pvc_version: str
    cpu_count: int
    kernel: str
    os: str
    arch: str
    load: float
    memory: Memory
    vcpu_allocated: int
    domains_count: int
    running_domains: tuple[str, ...]
    health: NodeHealth
    interfaces: dict[str, Any] = field(default_factory=dict)

    @property
    def is_coordinator(self) -> bool:
        return self.mode == "coordinator"


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return 0.0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def build_record(name: str, values: list[Any], now: float, limit: float) -> NodeRecord:
    """A node record from the values of `_FIELDS` (None where a key is missing)."""
    mode, daemon, coord, domain, keepalive, version, static, stats = values
    static, stats = _dict(static), _dict(stats)
    mem = _dict(stats.get("memory"))
    running = stats.get("running_domains")
    running_list = tuple(str(u) for u in running) if isinstance(running, list) else ()
    daemon_state = _str(daemon, "stop")
    keepalive_f = _float(keepalive)
    return NodeRecord(
        name=name,
        mode=_str(mode, "hypervisor"),
        daemon_state=daemon_state,
        coordinator_state=_str(coord, "client"),
        domain_state=_str(domain, "ready"),
        keepalive=keepalive_f,
        pvc_version=_str(version, ""),
        cpu_count=_int(static.get("cpu_count")),
        kernel=_str(static.get("kernel"), ""),
        os=_str(static.get("os"), ""),
        arch=_str(static.get("arch"), ""),
        load=_float(stats.get("load")),
        memory=Memory(
            total=_int(mem.get("total")),
            used=_int(mem.get("used")),
            free=_int(mem.get("free")),
            allocated=_int(mem.get("allocated")),
            provisioned=_int(mem.get("provisioned")),
        ),
        vcpu_allocated=_int(stats.get("vcpu_allocated")),
        domains_count=_int(stats.get("domains_count", len(running_list))),
        running_domains=running_list,
        health=node_health(daemon_state, keepalive_f, now, limit),
    )


def node_names(store: Store) -> list[str]:
    """Names of every registered node (children that are not valid names are skipped)."""
    try:
        children = store.children("root.nodes")
    except NotFound:
        return []
    out = []
    for child in children:
        try:
            out.append(names.node_name(child))
        except InvalidArgument:
            log.warning("Ignoring a node record with an invalid name: %r", child)
    return out


def read_nodes(
    store: Store,
    node_list: list[str],
    keepalive_interval: float,
    fence_intervals: int,
    now: float | None = None,
) -> list[NodeRecord]:
    """The records of the named nodes (pipelined reads); nodes that vanished are left out."""
    now = time.time() if now is None else now
    limit = keepalive_limit(keepalive_interval, fence_intervals)
    requests = [(key, {"node": n}) for n in node_list for key in _FIELDS]
    values = store.read_many(requests)
    width = len(_FIELDS)
    out = []
    for i, name in enumerate(node_list):
        chunk = values[i * width : (i + 1) * width]
        if chunk[0] is None:
            continue  # the node record itself is gone
        out.append(build_record(name, chunk, now, limit))
    return out


def get_node(
    store: Store, node: str, keepalive_interval: float, fence_intervals: int
) -> NodeRecord:
    names.node_name(node)
    found = read_nodes(store, [node], keepalive_interval, fence_intervals)
    if not found:
        raise NotFound(f"Node {node} not found.")
    return found[0]


def limit_matcher(limit: str | None) -> re.Pattern[str] | None:
    """PVC's fuzzy name limit: a regex that matches anywhere unless anchored by ^ or $."""
    if limit is None or limit == "":
        return None
    if len(limit) > LIMIT_MAX_LENGTH:
        raise InvalidArgument(f"The limit is longer than {LIMIT_MAX_LENGTH} characters")
    pattern = limit
    if not pattern.startswith("^"):
        pattern = ".*" + pattern
    if not pattern.endswith("$"):
        pattern = pattern + ".*"
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidArgument(f"Invalid limit {limit!r}: not a regular expression ({exc})") from exc


def list_nodes(
    store: Store,
    keepalive_interval: float,
    fence_intervals: int,
    limit: str | None = None,
    daemon_state: str | None = None,
    coordinator_state: str | None = None,
    domain_state: str | None = None,
) -> list[NodeRecord]:
    """Nodes whose name matches `limit` and whose states equal the given ones."""
    matcher = limit_matcher(limit)
    wanted = [n for n in node_names(store) if matcher is None or matcher.match(n)]
    records = read_nodes(store, wanted, keepalive_interval, fence_intervals)
    return [
        r
        for r in records
        if (daemon_state is None or r.daemon_state == daemon_state)
        and (coordinator_state is None or r.coordinator_state == coordinator_state)
        and (domain_state is None or r.domain_state == domain_state)
    ]
