"""RBD locks and VM starts: a disk locked by a live client of another node must not be
opened here (two writers would corrupt it); a lock left by this node's own earlier QEMU
(it died without closing the image) is stale and is broken before the start.

A lock holder is known by its address ("10.0.2.3:0/123456"): the nodes' addresses on the
core networks map it to a node.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from pvc.common.config import Config
from pvc.common.errors import InvalidArgument, NotFound
from pvc.drivers.storage.base import Figures, Storage

log = logging.getLogger("pvcnoded")


def address_ip(address: str) -> str:
    """'10.0.2.3:0/1234' -> '10.0.2.3' (also 'v1:10.0.2.3:6801/1234' and '[::1]:0/1')."""
    text = address.split(",")[0]
    if text.startswith(("v1:", "v2:")):
        text = text[3:]
    text = text.split("/", 1)[0]
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if ":" in text else text


def node_addresses(config: Config) -> dict[str, str]:
    """{ip: node} over every core network."""
    out: dict[str, str] = {}
    for node in config.all_nodes:
        for net in config.networks.values():
            with contextlib.suppress(InvalidArgument):
                out[str(net.node_address(node).ip)] = node
    return out


def holder(lock: Figures, addresses: dict[str, str]) -> str | None:
    return addresses.get(address_ip(str(lock.get("address", ""))))


def clear_for_start(storage: Storage, config: Config, node: str,
                    volumes: list[str]) -> str | None:
    """Break this node's stale locks on the volumes; the reason to refuse the start when
    another node (or an unknown client) holds one, else None."""
    addresses = node_addresses(config)
    for full in volumes:
        pool, volume = full.split("/", 1)
        try:
            locks = storage.lock_list(pool, volume)
        except NotFound:
            return f"RBD volume {full} does not exist"
        for lock in locks:
            owner = holder(lock, addresses)
            if owner == node:
                log.warning("Breaking stale lock on %s held by this node's %s (%s)", full,
                            lock.get("locker"), lock.get("address"))
                storage.lock_break(pool, volume, str(lock["locker"]), str(lock["cookie"]))
                continue
            who = f"node {owner}" if owner else f"a client at {lock.get('address')}"
            return (f"RBD volume {full} is locked by {who} ({lock.get('locker')}); "
                    "flush its locks once that node is stopped or fenced")
    return None


def flush(storage: Storage, volumes: list[str]) -> list[dict[str, Any]]:
    """Break every lock on the volumes; what was broken."""
    broken = []
    for full in volumes:
        pool, volume = full.split("/", 1)
        for lock in storage.lock_list(pool, volume):
            storage.lock_break(pool, volume, str(lock["locker"]), str(lock["cookie"]))
            broken.append({"volume": full, **lock})
    return broken
