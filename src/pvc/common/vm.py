"""What a VM record holds (see `domain.*` in the schema), its states and defaults."""

from __future__ import annotations

from typing import Any

from pvc.common.errors import InvalidArgument

# States as PVC names them (the CLI knows exactly these).
STATES = ("start", "restart", "shutdown", "stop", "disable", "fail", "migrate", "unmigrate",
          "provision", "restore", "import", "mirror")
# States an operator may ask for through `vm start|restart|shutdown|stop|disable`.
REQUESTABLE = ("start", "restart", "shutdown", "stop", "disable")
# States in which the VM is meant to be running somewhere.
RUNNING_STATES = ("start", "restart", "migrate", "unmigrate")
MIGRATION_METHODS = ("live", "shutdown", "none")
SELECTORS = ("mem", "memprov", "vcpus", "load", "vms")
DEFAULT_MAX_DOWNTIME_MS = 300


def default_status(node: str, state: str = "stop") -> dict[str, Any]:
    """`intent.seq` numbers the state requests; `started` is the number of the request
    whose start the node carried out (libvirt created the domain)."""
    return {"state": state, "node": node, "last_node": "", "failed_reason": "", "intent": {},
            "started": 0}


def default_meta() -> dict[str, Any]:
    return {
        "node_limit": [],
        "node_selector": "none",
        "node_autostart": False,
        "migration_method": "none",
        "migration_max_downtime": DEFAULT_MAX_DOWNTIME_MS,
        "profile": "",
    }


def status_of(raw: Any, fallback_node: str = "") -> dict[str, Any]:
    """A stored status with every field present (older or partial records included)."""
    out = default_status(fallback_node)
    if isinstance(raw, dict):
        out.update({k: v for k, v in raw.items() if k in out})
    return out


def meta_of(raw: Any) -> dict[str, Any]:
    out = default_meta()
    if isinstance(raw, dict):
        out.update({k: v for k, v in raw.items() if k in out})
    return out


def check_selector(value: str) -> str:
    if value not in (*SELECTORS, "none"):
        raise InvalidArgument(f"Invalid node selector {value!r}: use one of "
                              f"{', '.join(SELECTORS)} or none (the cluster default)")
    return value


def check_migration_method(value: str) -> str:
    if value not in MIGRATION_METHODS:
        raise InvalidArgument(f"Invalid migration method {value!r}: use one of "
                              f"{', '.join(MIGRATION_METHODS)}")
    return value


def check_max_downtime(value: int) -> int:
    if not 1 <= value <= 60_000:
        raise InvalidArgument(f"Invalid migration max downtime {value} ms: use 1 to 60000")
    return value
