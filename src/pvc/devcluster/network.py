"""Host-side plumbing of a dev cluster: one bridge per core network with the host's own
address on it (and the BMC addresses on upstream), and per node a network namespace
joined to each bridge by a veth pair."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Any

from pvc.common.errors import BackendError
from pvc.devcluster.layout import NETWORKS, ClusterSpec

IP = "/usr/bin/ip"


def ip(*args: str, check: bool = True) -> str:
    res = subprocess.run([IP, *args], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise BackendError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def link_exists(name: str) -> bool:
    return subprocess.run([IP, "link", "show", "dev", name], capture_output=True,
                          check=False).returncode == 0


def netns_list() -> list[str]:
    out = ip("-j", "netns", "list", check=False) or "[]"
    data: list[dict[str, Any]] = json.loads(out)
    return [d["name"] for d in data]


def check_subnets_free(spec: ClusterSpec) -> None:
    """Refuse to build over addresses the host already routes elsewhere."""
    routes: list[dict[str, Any]] = json.loads(ip("-j", "-4", "route", "show") or "[]")
    ours = {spec.bridge(n) for n in NETWORKS}
    for net in NETWORKS:
        wanted = spec.network(net)
        for r in routes:
            dst = r.get("dst", "")
            if dst == "default" or r.get("dev") in ours or "/" not in dst:
                continue
            if ipaddress.IPv4Network(dst, strict=False).overlaps(wanted):
                raise BackendError(f"{wanted} overlaps the host route {dst} on {r.get('dev')}; "
                                   "choose another subnet")


def ensure_bridge(name: str, address: str) -> None:
    """A host bridge, up, with the host's own `address` on it."""
    if not link_exists(name):
        ip("link", "add", name, "type", "bridge")
    ip("link", "set", name, "up")
    ip("addr", "replace", address, "dev", name)


def create_bridges(spec: ClusterSpec) -> None:
    for net in NETWORKS:
        ensure_bridge(spec.bridge(net), str(spec.host_address(net)))
    up = spec.bridge("upstream")
    for node in spec.node_names:
        ip("addr", "replace", f"{spec.bmc_address(node)}/32", "dev", up)


def create_node_net(spec: ClusterSpec, node: str) -> None:
    ns = spec.netns(node)
    if ns not in netns_list():
        ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")
    for net in NETWORKS:
        host = spec.host_veth(node, net)
        inside = spec.node_device(net)
        if not link_exists(host):
            ip("link", "add", host, "type", "veth", "peer", "name", inside, "netns", ns)
        ip("link", "set", host, "master", spec.bridge(net), "up")


def node_links(spec: ClusterSpec, node: str, up: bool) -> None:
    """A node's power as its network sees it: links up with its addresses, or down with
    every address gone (a powered-off server answers nothing, floating addresses included)."""
    ns = spec.netns(node)
    for net in NETWORKS:
        dev = spec.node_device(net)
        if up:
            ip("-n", ns, "addr", "flush", "dev", dev)
            ip("-n", ns, "addr", "add", str(spec.node_address(node, net)), "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
        else:
            ip("-n", ns, "link", "set", dev, "down", check=False)
            ip("-n", ns, "addr", "flush", "dev", dev, check=False)
    if up:
        ip("-n", ns, "route", "replace", "default", "via",
           str(spec.host_address("upstream").ip), "dev", spec.node_device("upstream"))


def netns_pids(ns: str) -> list[int]:
    out = ip("netns", "pids", ns, check=False)
    return [int(p) for p in out.split()]


def destroy(spec: ClusterSpec) -> None:
    """Remove every namespace and link of the cluster (processes must be gone already)."""
    for node in spec.node_names:
        ns = spec.netns(node)
        if ns in netns_list():
            ip("netns", "del", ns, check=False)
        for net in NETWORKS:
            if link_exists(spec.host_veth(node, net)):
                ip("link", "del", spec.host_veth(node, net), check=False)
    for net in NETWORKS:
        if link_exists(spec.bridge(net)):
            ip("link", "del", spec.bridge(net), check=False)


def leftovers(spec: ClusterSpec) -> list[str]:
    found = [f"netns {spec.netns(n)}" for n in spec.node_names if spec.netns(n) in netns_list()]
    for net in NETWORKS:
        if link_exists(spec.bridge(net)):
            found.append(f"bridge {spec.bridge(net)}")
        found += [f"veth {spec.host_veth(n, net)}" for n in spec.node_names
                  if link_exists(spec.host_veth(n, net))]
    return found
