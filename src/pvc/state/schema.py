"""The ZooKeeper schema: one table of logical key -> path template, per schema version.

Paths are templates whose `{placeholders}` name object ids (`{node}`). Every value put into
a placeholder is validated first, so nothing unchecked ever reaches a ZooKeeper path.
Collections (keys ending in `*`-free templates whose children are objects) are declared so
that migrations can enumerate the instances of a per-object key.

Version history (see `pvc.state.migrations` for the steps):
  1  first layout
  2  `node.router_state` renamed to `node.coordinator_state`; `config.primary_request` added
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from pvc.common import names
from pvc.common.errors import InvalidArgument
from pvc.state import codec
from pvc.state.codec import Codec

_SEGMENT = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_VALIDATORS = {"node": names.node_name}


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


def _v2() -> list[Key]:
    out: list[Key] = []
    for k in _V1:
        if k.name == "node.router_state":
            out.append(Key("node.coordinator_state", "/nodes/{node}/coordinator_state",
                           codec.STR, "client"))
        elif k.name == "schema.version":
            out.append(Key("schema.version", "/schema/version", codec.INT, 2))
        elif k.name == "node.active_schema":
            out.append(Key("node.active_schema", "/nodes/{node}/active_schema", codec.INT, 2))
        else:
            out.append(k)
    out.append(Key("config.primary_request", "/config/primary_request", codec.JSON, {}))
    return out


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
        rest = [k for k in self.keys.values() if k.name.startswith(prefix + ".")]
        return own + sorted(rest, key=lambda k: k.template)

    def volatile_templates(self) -> list[str]:
        return [k.template for k in self.keys.values() if k.volatile]


SCHEMAS: dict[int, Schema] = {
    1: Schema(1, {k.name: k for k in _V1}, {}),
    2: Schema(2, {k.name: k for k in _v2()}, {"node.coordinator_state": "node.router_state"}),
}
LATEST = max(SCHEMAS)
CURRENT: Schema = SCHEMAS[LATEST]
