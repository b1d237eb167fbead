"""Cut a dev node off one of its networks, or plug it back: its interface on that network
(upstream, cluster or storage) goes down or up inside the node's network namespace, as if
its cable were pulled. Unlike a power cut (`power.off`) the node keeps running and keeps
its addresses, so what it does when it is isolated can be watched.

Which network makes a node a cluster member: ZooKeeper, the peers' libvirt (migrations)
and the keepalives ride `cluster`; Ceph (mons, OSDs, the VMs' RBD disks) rides `storage`.
A node cut off `cluster` only keeps its Ceph access, so its VMs keep writing to their
disks: the case self-fencing exists for.
"""

from __future__ import annotations

import json
from typing import Any

from pvc.common.errors import InvalidArgument, NotFound
from pvc.devcluster import network as netsetup
from pvc.devcluster.layout import NETWORKS, ClusterSpec
from pvc.devcluster.node import power


def _check(spec: ClusterSpec, node: str, network: str) -> str:
    spec.node_index(node)
    if network not in NETWORKS:
        raise InvalidArgument(f"Unknown network {network!r} (one of {', '.join(NETWORKS)})")
    if power.init_pid(spec, node) is None:
        raise NotFound(f"Node {node} is powered off")
    return spec.node_device(network)


def state(spec: ClusterSpec, node: str, network: str) -> str:
    """'up' or 'down': the administrative state of the node's link on that network."""
    dev = _check(spec, node, network)
    data: list[dict[str, Any]] = json.loads(
        netsetup.ip("-n", spec.netns(node), "-j", "link", "show", "dev", dev) or "[]")
    return "up" if data and "UP" in data[0].get("flags", []) else "down"


def set_link(spec: ClusterSpec, node: str, network: str, up: bool) -> str:
    """Take the link down or bring it back (idempotent); returns its state afterwards."""
    dev = _check(spec, node, network)
    ns = spec.netns(node)
    netsetup.ip("-n", ns, "link", "set", "dev", dev, "up" if up else "down")
    if up and network == "upstream":
        # the default route went with the link: put it back
        netsetup.ip("-n", ns, "route", "replace", "default", "via",
                    str(spec.host_address("upstream").ip), "dev", dev)
    return state(spec, node, network)
