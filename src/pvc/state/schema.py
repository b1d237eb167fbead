"""The ZooKeeper schema: one table of logical key -> path template, per schema version.

Paths are templates whose `{placeholders}` name object ids (`{node}`). Every value put into
a placeholder is validated first, so nothing unchecked ever reaches a ZooKeeper path.
Collections (keys ending in `*`-free templates whose children are objects) are declared so
that migrations can enumerate the instances of a per-object key.

Version history (see `pvc.state.migrations` for the steps):
  1  first layout
  2  `node.router_state` renamed to `node.coordinator_state`; `config.primary_request` added
  3  VM records (`domain.*`) and the VM name index (`/indexes/domain_names/<name>`)
  4  Ceph records: cluster status text, OSDs, pools, volumes, snapshots, benchmarks
  5  cluster faults (`/faults/<id>`, one JSON record each)
  6  `node.osd_add`: an OSD add in progress on a node
  7  client networks (`/networks/<vni>` with leases, reservations and ACLs) and the
     network description index
"""

from __future__ import annotations

import functools
import re
import string
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pvc.common import names
from pvc.common.errors import InvalidArgument
from pvc.state import codec
from pvc.state.codec import Codec

_SEGMENT = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


# Cluster fault ids, `<TYPE>_<ENTRY>`: the entry may be a node, VM, OSD or Ceph check name.
_FAULT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _fault_id(value: str) -> str:
    if not _FAULT_ID.match(value):
        raise InvalidArgument(
            f"Invalid fault ID {value!r}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def _uuid(value: str) -> str:
    try:
        canonical = str(uuidlib.UUID(value))
    except ValueError:
        raise InvalidArgument(f"Invalid VM UUID {value!r}") from None
    if canonical != value:
        raise InvalidArgument(f"Invalid VM UUID {value!r} (use the lowercase canonical form)")
    return canonical


_MAC = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$")


def _vni(value: str) -> str:
    if not re.fullmatch(r"[0-9]{1,8}", value) or not 1 <= int(value) <= MAX_VNI:
        raise InvalidArgument(f"Invalid VNI {value!r}: use a number from 1 to {MAX_VNI}")
    return str(int(value))


def _mac(value: str) -> str:
    if not _MAC.match(value):
        raise InvalidArgument(f"Invalid MAC address {value!r}: use six lowercase hex pairs "
                              "separated by ':' (e.g. 52:54:00:12:34:56)")
    return value


MAX_VNI = 16777215

_VALIDATORS: dict[str, Callable[[str], str]] = {
    "node": names.node_name,
    "domain": _uuid,
    "name": lambda v: names.object_name(v, "VM name"),
    "pool": lambda v: names.storage_name(v, "pool name"),
    "volume": lambda v: names.storage_name(v, "volume name"),
    "snapshot": lambda v: names.storage_name(v, "snapshot name"),
    "osd": names.osd_id,
    "job": lambda v: names.storage_name(v, "benchmark job name"),
    "fault": _fault_id,
    "vni": _vni,
    "mac": _mac,
    "description": lambda v: names.object_name(v, "network description"),
    "acl": lambda v: names.object_name(v, "ACL description"),
}


def segment(param: str, value: Any) -> str:
    """Validate one value that goes into a path segment."""
    text = str(value)
    check = _VALIDATORS.get(param)
    if check is not None:
        return check(text)
    if not _SEGMENT.match(text) or text in (".", ".."):
        raise InvalidArgument(f"Invalid {param} {text!r}")
    return text


@dataclass(frozen=True)
class Key:
    name: str
    template: str
    codec: Codec = codec.STR
    default: Any = None
    # Observed runtime figures that daemons rewrite continuously (not intent).
    volatile: bool = False
    # Keys that are created per object when the object is created.
    ephemeral: bool = False

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.template) if f)

    def path(self, **params: Any) -> str:
        missing = [p for p in self.params if p not in params]
        if missing:
            raise InvalidArgument(f"Key {self.name} needs {', '.join(missing)}")
        return self.template.format(**{p: segment(p, params[p]) for p in self.params})


# -- the tables -------------------------------------------------------------

_ROOT_COLLECTIONS = [
    Key("root.nodes", "/nodes"),
    Key("root.domains", "/domains"),
    Key("root.networks", "/networks"),
    Key("root.faults", "/faults"),
    Key("root.logs", "/logs"),
    Key("root.locks", "/locks"),
    Key("root.ceph", "/ceph"),
    Key("root.ceph.osds", "/ceph/osds"),
    Key("root.ceph.pools", "/ceph/pools"),
    Key("root.ceph.volumes", "/ceph/volumes"),
    Key("root.ceph.snapshots", "/ceph/snapshots"),
]

_V1 = [
    Key("schema.version", "/schema/version", codec.INT, 1),
    Key("config", "/config"),
    Key("config.maintenance", "/config/maintenance", codec.BOOL, False),
    Key("config.primary_node", "/config/primary_node", codec.STR, "none"),
    Key("config.upstream_ip", "/config/upstream_ip", codec.STR, ""),
    Key("config.migration_target_selector", "/config/migration_target_selector", codec.STR, "mem"),
    *_ROOT_COLLECTIONS,
    Key("lock.primary", "/locks/primary", codec.STR, ephemeral=True),
    Key("node", "/nodes/{node}", codec.STR, "hypervisor"),
    Key("node.daemon_state", "/nodes/{node}/daemon_state", codec.STR, "stop"),
    Key("node.router_state", "/nodes/{node}/router_state", codec.STR, "client"),
    Key("node.domain_state", "/nodes/{node}/domain_state", codec.STR, "ready"),
    Key("node.keepalive", "/nodes/{node}/keepalive", codec.FLOAT, 0.0, volatile=True),
    Key("node.static", "/nodes/{node}/static", codec.JSON, {}),
    Key("node.pvc_version", "/nodes/{node}/pvc_version", codec.STR, ""),
    Key("node.stats", "/nodes/{node}/stats", codec.JSON, {}, volatile=True),
    Key("node.ipmi", "/nodes/{node}/ipmi", codec.JSON, {}),
    Key("node.active_schema", "/nodes/{node}/active_schema", codec.INT, 1),
    Key("logs.node", "/logs/{node}", codec.STR, ""),
    Key("logs.chunk", "/logs/{node}/{chunk}", codec.STR, "", volatile=True),
]


def _bump(keys: list[Key], version: int) -> list[Key]:
    """The keys of the previous version with the version numbers they carry updated."""
    numbered = {"schema.version": "/schema/version",
                "node.active_schema": "/nodes/{node}/active_schema"}
    return [Key(k.name, k.template, codec.INT, version) if k.name in numbered else k
            for k in keys]


def _v2() -> list[Key]:
    out: list[Key] = []
    for k in _bump(_V1, 2):
        if k.name == "node.router_state":
            out.append(Key("node.coordinator_state", "/nodes/{node}/coordinator_state",
                           codec.STR, "client"))
        else:
            out.append(k)
    out.append(Key("config.primary_request", "/config/primary_request", codec.JSON, {}))
    return out


def _v3() -> list[Key]:
    return [
        *_bump(_v2(), 3),
        Key("root.indexes", "/indexes"),
        Key("root.indexes.domain_names", "/indexes/domain_names"),
        Key("index.domain_name", "/indexes/domain_names/{name}", codec.STR, ""),
        # A VM. The value of its own key is its name; the XML is the truth of its shape.
        # Fields are grouped by writer, so that a VM is a handful of reads:
        #   status: {"state", "node", "last_node", "failed_reason", "intent"} - the API
        #     writes intent (state and placement), the node daemons write outcomes; both
        #     with compare-and-set, so a newer intent always wins over a stale outcome.
        #     `intent` says how to carry the latest change out: {"force": bool,
        #     "force_live": bool, "source": node a migration starts from}.
        #   meta: {"node_limit": [..], "node_selector", "node_autostart",
        #     "migration_method", "migration_max_downtime", "profile"}
        #   tags: [{"name", "type", "protected"}]
        Key("domain", "/domains/{domain}", codec.STR, ""),
        Key("domain.xml", "/domains/{domain}/xml", codec.STR, ""),
        Key("domain.status", "/domains/{domain}/status", codec.JSON, {}),
        Key("domain.meta", "/domains/{domain}/meta", codec.JSON, {}),
        Key("domain.tags", "/domains/{domain}/tags", codec.JSON, []),
        Key("domain.stats", "/domains/{domain}/stats", codec.JSON, {}, volatile=True),
        Key("domain.console_log", "/domains/{domain}/console_log", codec.STR, "",
            volatile=True),
        Key("domain.vnc", "/domains/{domain}/vnc", codec.STR, ""),
    ]


def _v4() -> list[Key]:
    return [
        *_bump(_v3(), 4),
        # What the primary observes of Ceph (rewritten every few seconds): the text of
        # `ceph status` and `ceph df`, and {"status": HEALTH_*, "checks": {name: summary}}.
        Key("ceph.status", "/ceph/status", codec.STR, "", volatile=True),
        Key("ceph.util", "/ceph/util", codec.STR, "", volatile=True),
        Key("ceph.health", "/ceph/health", codec.JSON, {}, volatile=True),
        Key("root.ceph.benchmarks", "/ceph/benchmarks"),
        # An OSD: {"node", "device", "db_device", "is_split", "uuid"}; stats as `ceph osd
        # df`/`osd dump` report them (published by the primary).
        Key("osd", "/ceph/osds/{osd}", codec.JSON, {}),
        Key("osd.stats", "/ceph/osds/{osd}/stats", codec.JSON, {}, volatile=True),
        # A pool: {"pgs", "tier", "copies", "mincopies"}; stats from `ceph df detail`.
        Key("pool", "/ceph/pools/{pool}", codec.JSON, {}),
        Key("pool.stats", "/ceph/pools/{pool}/stats", codec.JSON, {}, volatile=True),
        # Volumes and snapshots are grouped by pool (and volume), created with the pool.
        Key("pool.volumes", "/ceph/volumes/{pool}", codec.STR, ""),
        Key("pool.snapshots", "/ceph/snapshots/{pool}", codec.STR, ""),
        Key("volume", "/ceph/volumes/{pool}/{volume}", codec.JSON, {}),
        Key("volume.stats", "/ceph/volumes/{pool}/{volume}/stats", codec.JSON, {},
            volatile=True),
        Key("volume.snapshots", "/ceph/snapshots/{pool}/{volume}", codec.STR, ""),
        # A snapshot: {"timestamp"} (seconds since the epoch when it was taken).
        Key("snapshot", "/ceph/snapshots/{pool}/{volume}/{snapshot}", codec.JSON, {}),
        # A storage benchmark's results, by job name.
        Key("benchmark", "/ceph/benchmarks/{job}", codec.JSON, {}),
    ]


def _v5() -> list[Key]:
    return [
        *_bump(_v4(), 5),
        # A cluster fault `<TYPE>_<ENTRY>` (e.g. DEAD_NODE_hv2): {"first_reported",
        # "last_reported", "acknowledged_at" ("" until acknowledged), "status" ("new" or
        # "ack"), "health_delta", "message"}. Written by `pvc.ops.cluster.faults` only.
        Key("fault", "/faults/{fault}", codec.JSON, {}),
        # The fence monitor's kazoo Lock (its children are the contenders), runtime only.
        Key("lock.fence", "/locks/fence", codec.STR, ephemeral=True),
    ]


def _v6() -> list[Key]:
    return [
        *_bump(_v5(), 6),
        # An OSD add in progress on the node: {"device", "uuid", "since"} (the OSD's uuid,
        # chosen before `osd new` allocates its id), {} when none. A worker that died
        # mid-way leaves it; the node's next OSD task finishes or undoes that add first.
        Key("node.osd_add", "/nodes/{node}/osd_add", codec.JSON, {}),
    ]


def _v7() -> list[Key]:
    return [
        *_bump(_v6(), 7),
        # A client network, by VNI: {"description", "type" (managed|bridged), "mtu" (None:
        # the default of its type), "domain", "name_servers", "ip4": {"network", "gateway",
        # "dhcp", "dhcp_start", "dhcp_end"}, "ip6": {"network", "gateway", "dhcp"}} (None
        # where unset). Written by `pvc.ops.network` only.
        Key("network", "/networks/{vni}", codec.JSON, {}),
        # DHCP leases as dnsmasq hands them out: {"ip4", "hostname", "expiry", "client_id"}
        Key("network.leases", "/networks/{vni}/leases", codec.STR, ""),
        Key("lease", "/networks/{vni}/leases/{mac}", codec.JSON, {}),
        # Static reservations: {"ip4", "hostname"}
        Key("network.reservations", "/networks/{vni}/reservations", codec.STR, ""),
        Key("reservation", "/networks/{vni}/reservations/{mac}", codec.JSON, {}),
        # The firewall rules: {"in": [{"description", "rule"}], "out": [..]}, in order (a
        # rule's order is its position), one key so that a renumbering is one write.
        Key("network.acls", "/networks/{vni}/acls", codec.JSON, {"in": [], "out": []}),
        # Descriptions are unique: the index entry (value: the VNI) is created and removed
        # in the same transaction as the network.
        Key("root.indexes.network_descriptions", "/indexes/network_descriptions"),
        Key("index.network_description", "/indexes/network_descriptions/{description}",
            codec.STR, ""),
    ]


@dataclass(frozen=True)
class Schema:
    version: int
    keys: dict[str, Key]
    # logical renames relative to the previous version: new name -> old name
    renamed_from: dict[str, str]

    def key(self, name: str) -> Key:
        try:
            return self.keys[name]
        except KeyError:
            raise InvalidArgument(f"Unknown state key {name!r} in schema v{self.version}") from None

    def root_keys(self) -> list[Key]:
        """Keys without placeholders that `cluster init` creates (not ephemeral ones)."""
        return [k for k in self.keys.values() if not k.params and not k.ephemeral]

    def object_keys(self, prefix: str) -> list[Key]:
        """Keys of one kind of object (e.g. 'node'), the object's own key first."""
        own = [k for k in self.keys.values() if k.name == prefix]
        params = own[0].params if own else ()
        rest = [k for k in self.keys.values()
                if k.name.startswith(prefix + ".") and k.params == params]
        return own + sorted(rest, key=lambda k: k.template)

    def is_volatile(self, path: str) -> bool:
        """Whether a path is an observed runtime figure (keepalives, statistics, logs) that
        daemons rewrite on their own, as opposed to intent."""
        return any(pattern.match(path) for pattern in _volatile_patterns(self.version))


SCHEMAS: dict[int, Schema] = {
    1: Schema(1, {k.name: k for k in _V1}, {}),
    2: Schema(2, {k.name: k for k in _v2()}, {"node.coordinator_state": "node.router_state"}),
    3: Schema(3, {k.name: k for k in _v3()}, {}),
    4: Schema(4, {k.name: k for k in _v4()}, {}),
    5: Schema(5, {k.name: k for k in _v5()}, {}),
    6: Schema(6, {k.name: k for k in _v6()}, {}),
    7: Schema(7, {k.name: k for k in _v7()}, {}),
}
LATEST = max(SCHEMAS)


@functools.cache
def _volatile_patterns(version: int) -> list[re.Pattern[str]]:
    return [re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(k.template)) + "$")
            for k in SCHEMAS[version].keys.values() if k.volatile]
CURRENT: Schema = SCHEMAS[LATEST]
