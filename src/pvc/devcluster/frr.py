"""FRR on the development nodes, as the Ansible role sets it up on real servers: zebra and
bgpd in each node, iBGP in one private AS over the cluster network, the L2VPN EVPN family
with `advertise-all-vni`, so that every VXLAN the node daemon makes is announced (where
each guest MAC is, and which nodes flood a VNI's broadcasts to each other).

The coordinators form the fabric: they peer with every node, and reflect the routes of the
other nodes (hypervisors) to each other, so hypervisors peer only with coordinators.

The coordinators also peer (eBGP, IPv4 unicast) with the cluster's upstream router, and
announce to it their connected networks except the core ones: that is the managed
networks' subnets, connected only where their gateway addresses are (on the primary), so
the outside world routes each client subnet to whichever coordinator is primary now.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import tempfile
from pathlib import Path

from pvc.devcluster.layout import NETWORKS, ClusterSpec

ASN = 65500
UPSTREAM_ASN = 65501  # the dev cluster's upstream router (pvc.devcluster.router)
FRR_BIN = Path("/usr/lib/frr")
RUN_DIR = Path("/run/frr")  # the node's private /run
TMP_DIR = Path("/var/tmp/frr")  # where each FRR process keeps a crash-log directory
USER = "frr"


def available() -> bool:
    return (FRR_BIN / "bgpd").exists() and (FRR_BIN / "zebra").exists()


def peers(spec: ClusterSpec, node: str) -> list[str]:
    coordinators = spec.coordinator_names
    return [n for n in spec.node_names
            if n != node and (node in coordinators or n in coordinators)]


def zebra_conf(node: str) -> str:
    return f"hostname {node}\nlog stdout informational\n!\n"


def bgpd_conf(spec: ClusterSpec, node: str) -> str:
    me = spec.node_address(node, "cluster").ip
    reflects = node in spec.coordinator_names
    lines = [
        "! written by pvc-dev: BGP EVPN of one development node",
        f"hostname {node}",
        "log stdout informational",
        "!",
        f"router bgp {ASN}",
        f" bgp router-id {me}",
        " no bgp default ipv4-unicast",
        " neighbor fabric peer-group",
        f" neighbor fabric remote-as {ASN}",
        f" neighbor fabric update-source {me}",
        # a node that powers off: its routes (MACs, flooding) go within 3 s
        " neighbor fabric timers 1 3",
        " neighbor fabric timers connect 1",
    ]
    others = peers(spec, node)
    lines += [f" neighbor {spec.node_address(p, 'cluster').ip} peer-group fabric"
              for p in others]
    lines += [" !", " address-family l2vpn evpn", "  neighbor fabric activate"]
    if reflects:
        lines += [f"  neighbor {spec.node_address(p, 'cluster').ip} route-reflector-client"
                  for p in others if p not in spec.coordinator_names]
    lines += ["  advertise-all-vni", " exit-address-family"]
    if reflects:
        lines += upstream_peering(spec)
    lines += ["!", ""]
    return "\n".join(lines)


def upstream_peering(spec: ClusterSpec) -> list[str]:
    """A coordinator's eBGP session with the upstream router (inside `router bgp`), and the
    policy: out, every connected subnet but the core networks, link-local and loopback
    (so the client subnets of the gateways this node holds); in, nothing (the nodes keep
    their static default route)."""
    router = spec.router_address().ip
    lines = [
        " neighbor upstream peer-group",
        f" neighbor upstream remote-as {UPSTREAM_ASN}",
        " neighbor upstream timers 1 3",
        " neighbor upstream timers connect 1",
        f" neighbor {router} peer-group upstream",
        " !",
        " address-family ipv4 unicast",
        "  redistribute connected route-map pvc-client-subnets",
        "  neighbor upstream activate",
        "  neighbor upstream route-map pvc-upstream-in in",
        "  neighbor upstream route-map pvc-client-subnets out",
        " exit-address-family",
        "!",
    ]
    excluded = [str(spec.network(net)) for net in NETWORKS] + ["169.254.0.0/16", "127.0.0.0/8"]
    lines += [f"ip prefix-list pvc-not-core seq {5 * (i + 1)} deny {prefix} le 32"
              for i, prefix in enumerate(excluded)]
    lines += ["ip prefix-list pvc-not-core seq 100 permit 0.0.0.0/0 le 32",
              "!",
              "route-map pvc-client-subnets permit 10",
              " match ip address prefix-list pvc-not-core",
              "!",
              "route-map pvc-upstream-in deny 10"]
    return lines


def router_bgpd_conf(spec: ClusterSpec) -> str:
    """The upstream router: one eBGP session with every coordinator, learning the client
    subnets (it accepts whatever they announce, as a lab router would)."""
    me = spec.router_address().ip
    lines = [
        "! written by pvc-dev: the upstream router of a development cluster",
        "hostname router",
        "log stdout informational",
        "!",
        f"router bgp {UPSTREAM_ASN}",
        f" bgp router-id {me}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        " neighbor pvc peer-group",
        f" neighbor pvc remote-as {ASN}",
        " neighbor pvc timers 1 3",
        " neighbor pvc timers connect 1",
    ]
    lines += [f" neighbor {spec.node_address(c, 'upstream').ip} peer-group pvc"
              for c in spec.coordinator_names]
    lines += [" !", " address-family ipv4 unicast", "  neighbor pvc activate",
              " exit-address-family", "!", ""]
    return "\n".join(lines)


def conf_dir(spec: ClusterSpec, node: str) -> Path:
    return spec.node_dir(node) / "etc/frr"


def write(spec: ClusterSpec, node: str) -> None:
    where = conf_dir(spec, node)
    where.mkdir(parents=True, exist_ok=True)
    (where / "zebra.conf").write_text(zebra_conf(node))
    (where / "bgpd.conf").write_text(bgpd_conf(spec, node))


def private_tmp(cmd: list[str]) -> list[str]:
    """`cmd` with a /var/tmp/frr of its own, a tmpfs that goes with it. Each FRR process
    makes a directory there named by its pid and leaves it behind when killed or after a
    dry run; a later process given the same pid then prints an error at start. (Nodes have
    their own /var/tmp/frr already.)"""
    uid, gid = pwd.getpwnam(USER).pw_uid, grp.getgrnam(USER).gr_gid
    TMP_DIR.mkdir(parents=True, exist_ok=True)
    mount = f"mount -t tmpfs -o mode=755,uid={uid},gid={gid},size=16m tmpfs {TMP_DIR}"
    return ["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            f'{mount} && exec "$@"', USER, *cmd]


def dry_run_errors(conf: str) -> str:
    """What bgpd says reading `conf` without running (`bgpd -C`: an error for each line it
    does not understand; "" when it takes every line). It reads from a directory FRR's
    user may enter, with a /var/tmp/frr of its own."""
    with tempfile.TemporaryDirectory(prefix="pvc-frrconf-") as where:
        path = Path(where) / "bgpd.conf"
        path.write_text(conf)
        path.chmod(0o644)
        Path(where).chmod(0o755)
        res = subprocess.run(private_tmp([str(FRR_BIN / "bgpd"), "-C", "-f", str(path),
                                          "-u", USER, "-g", USER]),
                             capture_output=True, text=True, timeout=30, check=False)
    return (res.stdout + res.stderr).strip()


def prepare_run_dir(run: Path = RUN_DIR) -> None:
    """The sockets' directory (inside a node: its own /run/frr), owned by FRR's user."""
    run.mkdir(exist_ok=True)
    os.chown(run, pwd.getpwnam(USER).pw_uid, grp.getgrnam(USER).gr_gid)
    run.chmod(0o755)


def commands(spec: ClusterSpec, node: str) -> list[tuple[str, list[str]]]:
    """zebra and bgpd in the foreground, with this node's files and sockets."""
    return daemons(conf_dir(spec, node), RUN_DIR)


def daemons(conf: Path, run: Path) -> list[tuple[str, list[str]]]:
    """zebra and bgpd in the foreground: configuration from `conf`, sockets and pid files
    in `run`."""
    common = ["-z", str(run / "zserv.api"), "--vty_socket", str(run), "-u", USER,
              "-g", USER, "-A", "127.0.0.1"]
    return [
        (name, [str(FRR_BIN / name), "-f", str(conf / f"{name}.conf"),
                "-i", str(run / f"{name}.pid"), *common])
        for name in ("zebra", "bgpd")
    ]
