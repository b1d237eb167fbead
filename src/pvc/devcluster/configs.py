"""Files of each dev-cluster node: pvc.conf (from the shipped sample), a private libvirt
configuration listening on the node's cluster address, /etc/hosts, ZooKeeper's config."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

from pvc.common import config as configmod
from pvc.devcluster import frr, patroni, zookeeper
from pvc.devcluster.guest import xml as guest_xml
from pvc.devcluster.layout import (
    NETWORKS,
    ZK_CLIENT_PORT,
    ZK_ELECTION_PORT,
    ZK_QUORUM_PORT,
    ClusterSpec,
)

# Directories of the host that each node gets its own copy of (bind-mounted in its
# mount namespace by nodeinit), relative to the node's directory.
PRIVATE_DIRS = {
    "/etc/pvc": "etc/pvc",
    "/etc/libvirt": "etc/libvirt",
    "/var/lib/libvirt": "var/lib/libvirt",
    "/var/log/libvirt": "var/log/libvirt",
    "/var/cache/libvirt": "var/cache/libvirt",
    "/var/log/pvc": "var/log/pvc",
    "/etc/ceph": "etc/ceph",
    "/var/lib/ceph": "var/lib/ceph",
    "/var/log/ceph": "var/log/ceph",
    # FRR keeps per-process files here by pid, and pids repeat across node pid namespaces
    "/var/tmp/frr": "var/tmp/frr",
}
REDIS_PORT = 6379
SENTINEL_PORT = 26379
MASTER_NAME = "pvc"  # pvc.conf's database.keydb.master_name default
PRIVATE_FILES = {"/etc/hosts": "etc/hosts"}


def pvc_conf(spec: ClusterSpec) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(configmod.SAMPLE_FILE.read_text())
    raw["cluster"]["name"] = spec.name
    raw["cluster"]["all_nodes"] = spec.node_names
    raw["cluster"]["coordinator_nodes"] = spec.coordinator_names
    for net in NETWORKS:
        sect = raw["cluster"]["networks"][net]
        sect["device"] = spec.node_device(net)
        sect["domain"] = f"{net}.{spec.name}.pvc"
        n = spec.network(net)
        sect["ipv4"]["network_address"] = str(n.network_address)
        sect["ipv4"]["netmask"] = n.prefixlen
        sect["ipv4"]["floating_address"] = str(spec.floating_address(net))
        if net == "upstream":
            sect["ipv4"]["gateway_address"] = str(spec.host_address(net).ip)
    raw["fencing"]["ipmi"] = {
        "hostname": "hv{node_id}-lom",
        "username": spec.ipmi_username,
        "password": spec.ipmi_password,
    }
    raw["timer"]["vm_shutdown_timeout"] = spec.vm_shutdown_timeout
    raw["subsystem"]["enable_storage"] = True
    # the libvirt secret with the Ceph key for QEMU's RBD disks: one UUID per cluster
    raw["ceph"]["secret_uuid"] = ceph_secret_uuid(spec)
    raw["ceph"]["service_control"] = "direct"  # the nodes have no systemd
    raw["subsystem"]["enable_worker"] = True
    # the upstream router learns the client subnets (pvc.devcluster.router), but the
    # host, the nodes' default gateway, does not: the primary hides them behind itself
    raw["guest_networking"]["source_nat"] = True
    if patroni.available():  # the provisioner's database (pvc.devcluster.patroni)
        raw["database"]["postgres"]["credentials"]["api"]["password"] = patroni.password(
            spec, patroni.API_USER)
        if patroni.powerdns_available():  # the DNS aggregator (pvc.node.network.dns)
            raw["database"]["postgres"]["credentials"]["dns"] = {
                "database": patroni.DNS_DATABASE, "username": patroni.DNS_USER,
                "password": patroni.password(spec, patroni.DNS_USER)}
    raw["api"]["listen"]["address"] = str(spec.floating_address("upstream"))
    raw["api"]["authentication"]["secret_key"] = spec.api_key[::-1]
    raw["api"]["token"] = [{"description": "pvc-dev", "token": spec.api_key}]
    return raw


def hosts_file(spec: ClusterSpec, node: str) -> str:
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{node}.{spec.name}.pvc {node}"]
    for other in spec.node_names:
        if other != node:
            lines.append(f"{spec.node_address(other, 'cluster').ip}\t{other}")
        lines.append(f"{spec.bmc_address(other)}\t{other}-lom")
    return "\n".join(lines) + "\n"


def libvirtd_conf(spec: ClusterSpec, node: str) -> str:
    host_uuid = uuid.uuid5(uuid.NAMESPACE_DNS, f"{spec.name}.{node}.pvc-dev")
    return "\n".join([
        "# written by pvc-dev: libvirt of one development node",
        "listen_tls = 0",
        "listen_tcp = 1",
        f'listen_addr = "{spec.node_address(node, "cluster").ip}"',
        'auth_tcp = "none"',
        'auth_unix_rw = "none"',
        f'host_uuid = "{host_uuid}"',
        "log_outputs = \"3:stderr\"",
        "",
    ])


def zk_server(spec: ClusterSpec, node: str) -> zookeeper.ZkServer:
    ensemble = {
        spec.node_index(c): (str(spec.node_address(c, "cluster").ip), ZK_QUORUM_PORT,
                             ZK_ELECTION_PORT)
        for c in spec.coordinator_names
    }
    return zookeeper.ZkServer(
        myid=spec.node_index(node),
        data_dir=spec.node_dir(node) / "zookeeper",
        client_address=str(spec.node_address(node, "cluster").ip),
        client_port=ZK_CLIENT_PORT,
        ensemble=ensemble if len(ensemble) > 1 else {},
    )


def ceph_secret_uuid(spec: ClusterSpec) -> str:
    """The UUID of the libvirt secret with the Ceph key (the same on every node)."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{spec.name}.ceph-secret.pvc-dev"))


def worker_tmp(spec: ClusterSpec, node: str) -> Path:
    """The task worker's temporary directory (TMPDIR), inside the node's directory."""
    return spec.node_dir(node) / "tmp" / "pvcworkerd"


def redis_dir(spec: ClusterSpec, node: str) -> Path:
    return spec.node_dir(node) / "redis"


def redis_command(spec: ClusterSpec, node: str) -> list[str]:
    """The coordinator's Redis, started as the replica of the master the other
    coordinators' Sentinels name now, if that is another one (`pvc.tasks.broker`)."""
    others = [c for c in spec.coordinator_names if c != node]
    return [sys.executable, "-m", "pvc.tasks.broker",
            "--conf", str(redis_dir(spec, node) / "redis.conf"),
            "--self", f"{spec.node_address(node, 'cluster').ip}:{REDIS_PORT}",
            *(a for c in others for a in (
                "--sentinel", f"{spec.node_address(c, 'cluster').ip}:{SENTINEL_PORT}")),
            "--sentinels", str(len(spec.coordinator_names)), "--master-name", MASTER_NAME]


def sentinel_command(spec: ClusterSpec, node: str) -> list[str]:
    return ["/usr/bin/redis-server", str(redis_dir(spec, node) / "sentinel.conf"),
            "--sentinel"]


def redis_conf(spec: ClusterSpec, node: str) -> str:
    """A coordinator's Redis: the first coordinator's starts as the master, the others as
    its replicas. Sentinel rewrites the role in this file when it fails over, so a Redis
    that restarts keeps the role it was last given. Appends every write to disk (each
    second) so a restarted Redis keeps its queue; logs to stdout (the node's log dir)."""
    ip = spec.node_address(node, "cluster").ip
    first = spec.coordinator_names[0]
    lines = [
        "bind 0.0.0.0", f"port {REDIS_PORT}", "protected-mode no", "daemonize no",
        f"dir {redis_dir(spec, node)}", 'logfile ""', 'save ""', "appendonly yes",
        "appendfsync everysec", f"replica-announce-ip {ip}",
        "repl-diskless-sync-delay 0",  # a replica (back after a failover) syncs at once
    ]
    if node != first:
        lines.append(f"replicaof {spec.node_address(first, 'cluster').ip} {REDIS_PORT}")
    return "\n".join(lines) + "\n"


def sentinel_conf(spec: ClusterSpec, node: str) -> str:
    """A coordinator's Sentinel: watches the master (the first coordinator's Redis at the
    start), declares it down after 2 s of silence, and fails over when a majority of the
    coordinators' Sentinels agree. Sentinel keeps its own state in this file."""
    ip = spec.node_address(node, "cluster").ip
    first = spec.node_address(spec.coordinator_names[0], "cluster").ip
    quorum = len(spec.coordinator_names) // 2 + 1
    return "\n".join([
        "bind 0.0.0.0", f"port {SENTINEL_PORT}", "protected-mode no", "daemonize no",
        f"dir {redis_dir(spec, node)}", 'logfile ""', f"sentinel announce-ip {ip}",
        f"sentinel monitor {MASTER_NAME} {first} {REDIS_PORT} {quorum}",
        f"sentinel down-after-milliseconds {MASTER_NAME} 2000",
        f"sentinel failover-timeout {MASTER_NAME} 6000",
        f"sentinel parallel-syncs {MASTER_NAME} 1",
    ]) + "\n"


def write_redis(spec: ClusterSpec, node: str) -> None:
    """The Redis and Sentinel files of a coordinator, unless it has them (both are
    rewritten by Sentinel as roles change: a new file would undo a failover)."""
    where = redis_dir(spec, node)
    where.mkdir(exist_ok=True)
    for name, text in (("redis.conf", redis_conf(spec, node)),
                       ("sentinel.conf", sentinel_conf(spec, node))):
        if not (where / name).exists():
            (where / name).write_text(text)


def write_node(spec: ClusterSpec, node: str) -> None:
    base = spec.node_dir(node)
    for rel in PRIVATE_DIRS.values():
        (base / rel).mkdir(parents=True, exist_ok=True)
    etc_libvirt = base / "etc/libvirt"
    if not (etc_libvirt / "libvirtd.conf").exists():
        shutil.copytree("/etc/libvirt", etc_libvirt, dirs_exist_ok=True)
    (etc_libvirt / "libvirtd.conf").write_text(libvirtd_conf(spec, node))
    qemu_conf = etc_libvirt / "qemu.conf"
    base_conf = Path("/etc/libvirt/qemu.conf").read_text()
    qemu_conf.write_text(base_conf.rstrip("\n") + "\n" + guest_xml.qemu_conf_overrides(
        str(spec.node_address(node, "cluster").ip)))
    for sub in ("qemu", "images", "boot"):
        (base / "var/lib/libvirt" / sub).mkdir(exist_ok=True)
    conf = base / "etc/pvc/pvc.conf"
    conf.write_text("# written by pvc-dev\n" + yaml.safe_dump(pvc_conf(spec), sort_keys=False))
    conf.chmod(0o600)
    (base / "etc/hosts").write_text(hosts_file(spec, node))
    if node in spec.coordinator_names:
        zk_server(spec, node).write_config()
        write_redis(spec, node)
        if patroni.available():
            patroni.write(spec, node)
    frr.write(spec, node)
