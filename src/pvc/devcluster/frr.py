"""FRR on the development nodes, as the Ansible role sets it up on real servers: zebra and
bgpd in each node, iBGP in one private AS over the cluster network, the L2VPN EVPN family
with `advertise-all-vni`, so that every VXLAN the node daemon makes is announced (where
each guest MAC is, and which nodes flood a VNI's broadcasts to each other).

The coordinators form the fabric: they peer with every node, and reflect the routes of the
other nodes (hypervisors) to each other, so hypervisors peer only with coordinators.
"""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

from pvc.devcluster.layout import ClusterSpec

ASN = 65500
FRR_BIN = Path("/usr/lib/frr")
RUN_DIR = Path("/run/frr")  # the node's private /run
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
    lines += ["  advertise-all-vni", " exit-address-family", "!", ""]
    return "\n".join(lines)


def conf_dir(spec: ClusterSpec, node: str) -> Path:
    return spec.node_dir(node) / "etc/frr"


def write(spec: ClusterSpec, node: str) -> None:
    where = conf_dir(spec, node)
    where.mkdir(parents=True, exist_ok=True)
    (where / "zebra.conf").write_text(zebra_conf(node))
    (where / "bgpd.conf").write_text(bgpd_conf(spec, node))


def prepare_run_dir() -> None:
    """Inside the node (its own /run): the sockets' directory, owned by FRR's user."""
    RUN_DIR.mkdir(exist_ok=True)
    os.chown(RUN_DIR, pwd.getpwnam(USER).pw_uid, grp.getgrnam(USER).gr_gid)
    RUN_DIR.chmod(0o755)


def commands(spec: ClusterSpec, node: str) -> list[tuple[str, list[str]]]:
    """zebra and bgpd in the foreground, with this node's files and sockets."""
    where = conf_dir(spec, node)
    common = ["-z", str(RUN_DIR / "zserv.api"), "--vty_socket", str(RUN_DIR), "-u", USER,
              "-g", USER, "-A", "127.0.0.1"]
    return [
        ("zebra", [str(FRR_BIN / "zebra"), "-f", str(where / "zebra.conf"),
                   "-i", str(RUN_DIR / "zebra.pid"), *common]),
        ("bgpd", [str(FRR_BIN / "bgpd"), "-f", str(where / "bgpd.conf"),
                  "-i", str(RUN_DIR / "bgpd.pid"), *common]),
    ]
