"""Running the Ansible kit against deployment targets, as an operator would."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

from pvc.devcluster.targets import machines
from pvc.devcluster.targets.layout import TargetSpec

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / "deploy" / "ansible"
CLUSTER = "test"
DOMAIN = "deploy.test"
PLAYBOOK_TIMEOUT = 1800
# each target's OSD "device": a sparse file the test makes before the first run
OSD_FILE = "/var/lib/pvc-test-osd.img"
OSD_FILE_SIZE = "4G"
# quotes, a dollar and a backslash: the roles must pass it to SQL and files unharmed
API_DB_PASSWORD = "it's $ecret \\ \"db\""


RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                   r"failed=(\d+)", re.M)


@dataclass
class Run:
    """A playbook run as its operator saw it (Ansible's default output)."""

    rc: int
    output: str

    def stats(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP per host."""
        return {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]),
                       "failed": int(m[5])} for m in RECAP.finditer(self.output)}

    def changed(self) -> dict[str, int]:
        return {host: s["changed"] for host, s in self.stats().items()}

    def changed_tasks(self) -> list[str]:
        """`TASK [...]` headings followed by a `changed:` line, for a failure message."""
        found, task = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                task = line
            elif line.startswith("changed:"):
                found.append(f"{task} {line}")
        return found


COORDINATORS = 3


def node_vars(spec: TargetSpec, hosts: list[str]) -> list[dict[str, Any]]:
    """pvc_nodes for `hosts` (the first three the coordinators, any more hypervisors)."""
    return [{"hostname": host, "is_coordinator": index <= COORDINATORS, "node_id": index,
             "router_id": str(spec.address(host, "upstream").ip),
             "upstream_ip": str(spec.address(host, "upstream").ip),
             "cluster_ip": str(spec.address(host, "cluster").ip),
             "storage_ip": str(spec.address(host, "storage").ip),
             "ipmi_host": f"{host}-lom.{DOMAIN}", "ipmi_user": "pvcfence",
             "ipmi_password": "fence-secret", "osd_devices": [OSD_FILE]}
            for index, host in enumerate(hosts, start=1)]


def set_servers(spec: TargetSpec, repo: Path, hosts: list[str]) -> None:
    """The operator's servers: the inventory and pvc_nodes list `hosts`."""
    (repo / "hosts").write_text(f"[{CLUSTER}]\n" + "".join(
        f"{host}.{DOMAIN} ansible_host={spec.address(host, 'upstream').ip}\n"
        for host in hosts))
    path = repo / "group_vars" / CLUSTER / "pvc.yml"
    pvc = yaml.safe_load(path.read_text())
    pvc["pvc_nodes"] = node_vars(spec, hosts)
    path.write_text(yaml.safe_dump(pvc, sort_keys=False))


def make_repo(spec: TargetSpec, where: Path, package: Path, hosts: list[str]) -> Path:
    """An operator's local repository (create-local-repo.sh) set up for the targets
    `hosts`."""
    repo = where / "cluster-config"
    subprocess.run([str(KIT / "create-local-repo.sh"), str(repo), CLUSTER], check=True,
                   capture_output=True)
    group = repo / "group_vars" / CLUSTER
    base = yaml.safe_load((group / "base.yml").read_text())
    networks = base["networks"]
    for net in ("upstream", "cluster", "storage"):
        network = spec.network(net)
        networks[net].update(subnet=str(network.network_address), netmask=network.prefixlen,
                             floating_ip=str(network[250]))
    networks["upstream"]["gateway_ip"] = str(spec.host_address("upstream").ip)
    base.update(debian_main_repository=spec.mirror,
                debian_security_repository=spec.security_mirror,
                recursive_dns_servers=[str(spec.host_address("upstream").ip)],
                local_domain=DOMAIN)
    (group / "base.yml").write_text(yaml.safe_dump(base, sort_keys=False))
    pvc = yaml.safe_load((group / "pvc.yml").read_text())
    pvc.update(pvc_package_file=str(package),
               pvc_api_secret_key="test-secret-key",
               pvc_api_tokens=[{"description": "test", "token": "test-token"}],
               pvc_api_database_password=API_DB_PASSWORD,
               pvc_dns_database_password="dns-db-secret",
               pvc_postgresql_superuser_password="pg-super-secret",
               pvc_postgresql_replication_password="pg-replication-secret",
               pvc_domain_type="qemu",
               pvc_ceph_pools=[{"name": "vms", "pgs": 32}],
               # the targets' monitors share this host's disk; a small OSD memory target
               pvc_ceph_settings={"mon_data_avail_warn": 5, "osd_memory_target": 939524096},
               # what libvirt in a container needs (no SELinux/AppArmor, no cgroup setup)
               pvc_libvirt_qemu_settings={"security_driver": "none",
                                          "cgroup_controllers": []})
    (group / "pvc.yml").write_text(yaml.safe_dump(pvc, sort_keys=False))
    set_servers(spec, repo, hosts)
    return repo


def playbook(spec: TargetSpec, repo: Path, *args: str,
             extra: dict[str, Any] | None = None, book: str = "pvc.yml") -> Run:
    env = {**os.environ, "ANSIBLE_CONFIG": str(repo / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACKS_ENABLED": "",
           "ANSIBLE_LOCAL_TEMP": str(repo / ".ansible-tmp"),
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(repo / ".ansible-cp"),
           "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s "
                               "-o UserKnownHostsFile=/dev/null"}
    argv = ["ansible-playbook", "-i", "hosts", book, "-l", CLUSTER,
            "--private-key", str(spec.ssh_key), *args]
    if extra:
        argv += ["-e", json.dumps(extra)]
    done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True,
                          timeout=PLAYBOOK_TIMEOUT, check=False)
    return Run(done.returncode, done.stdout + done.stderr)


def on(spec: TargetSpec, host: str, command: str) -> str:
    """Run a shell command on a target as root; its output."""
    done = subprocess.run(machines.ssh_command(spec, host, f"sudo sh -c {shlex.quote(command)}"),
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{host}: {command!r} failed ({done.returncode}): "
                             f"{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def zookeeper_word(address: str, word: str, timeout: float = 5.0) -> str:
    """A ZooKeeper four-letter word's answer ('' when the server does not answer)."""
    try:
        with socket.create_connection((address, 2181), timeout=timeout) as conn:
            conn.sendall(word.encode())
            chunks = []
            while chunk := conn.recv(4096):
                chunks.append(chunk)
    except OSError:
        return ""
    return b"".join(chunks).decode(errors="replace")


def zookeeper_modes(addresses: list[str], timeout: float = 90.0) -> dict[str, str]:
    """Each server's mode (leader, follower, ...) once all of them are in a quorum."""
    deadline = time.monotonic() + timeout
    while True:
        modes = {}
        for address in addresses:
            found = re.search(r"^Mode: (\w+)", zookeeper_word(address, "srvr"), re.M)
            modes[address] = found.group(1) if found else ""
        if all(m in ("leader", "follower") for m in modes.values()) or (
                time.monotonic() > deadline):
            return modes
        time.sleep(1)


def redis_roles(addresses: list[str], timeout: float = 60.0) -> dict[str, str]:
    """Each Redis's role (master, slave) once every replica has synced with its master."""
    deadline = time.monotonic() + timeout
    while True:
        roles: dict[str, str] = {}
        synced = True
        for address in addresses:
            try:
                role = redis.Redis(host=address, port=6379, socket_timeout=5,
                                   decode_responses=True).role()
            except redis.RedisError:
                roles[address] = ""
                synced = False
                continue
            roles[address] = str(role[0])
            if roles[address] == "slave":
                synced = synced and role[3] == "connected"
        if synced or time.monotonic() > deadline:
            return roles
        time.sleep(1)


def patroni_members(addresses: list[str], timeout: float = 120.0) -> dict[str, str]:
    """Member name -> role (leader, sync_standby, replica) once every member runs and the
    replicas stream from the leader, as the first Patroni that answers tells it."""
    deadline = time.monotonic() + timeout
    roles: dict[str, str] = {}
    while True:
        for address in addresses:
            try:
                found = httpx.get(f"http://{address}:8008/cluster", timeout=5).json()
            except (httpx.HTTPError, ValueError):
                continue
            members = found.get("members", [])
            roles = {str(m.get("name")): str(m.get("role")) for m in members}
            ready = len(members) == len(addresses) and all(
                m.get("state") in ("running", "streaming") for m in members)
            if ready:
                return roles
            break
        if time.monotonic() > deadline:
            return roles
        time.sleep(1)


def wait_on(spec: TargetSpec, host: str, command: str, done: Callable[[str], bool],
            timeout: float = 300.0) -> str:
    """Run `command` on `host` until `done(its output)`; the last output (an
    AssertionError naming the output if it never was)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            out = on(spec, host, command)
        except AssertionError as exc:
            out = str(exc)
        if done(out):
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"{host}: {command!r} not as wanted within {timeout} s: "
                                 f"{out[-2000:]}")
        time.sleep(2)
