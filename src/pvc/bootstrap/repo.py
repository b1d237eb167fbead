"""The operator's cluster repository, as deploy/ansible/create-local-repo.sh lays it out:
`hosts` (one inventory group per cluster, the servers' fully qualified names) and
`group_vars/<cluster>/` with the cluster's settings; a cluster with a `bootstrap.yml`
there is one the daemon installs.

The daemon pulls it (when it has a remote) before reading, and commits what it writes
into it back (e.g. what it learnt of each server), so the repository stays the record.
"""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pvc.bootstrap import config
from pvc.common.errors import BackendError, InvalidArgument

log = logging.getLogger(__name__)

CLUSTER = re.compile(r"[a-z][a-z0-9_]{0,31}")
GIT_TIMEOUT = 120


@dataclass(frozen=True)
class Cluster:
    name: str
    config: config.BootstrapConfig
    fqdns: dict[str, str]  # node name (first label) -> the inventory's full name

    def fqdn(self, hostname: str) -> str:
        try:
            return self.fqdns[hostname]
        except KeyError:
            raise InvalidArgument(f"cluster {self.name}: node {hostname} is not in the "
                                  "inventory (hosts)") from None


def inventory(text: str, source: str = "hosts") -> dict[str, list[str]]:
    """An INI inventory's groups and their hosts (the first word of each line)."""
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            name = line.strip("[]")
            current = None if ":" in name else groups.setdefault(name, [])
            continue
        if current is None:
            continue  # host lines outside a group, or :vars/:children sections
        host = line.split()[0]
        if not config.HOSTNAME.fullmatch(host.split(".", 1)[0]):
            raise InvalidArgument(f"{source}, line {number}: {host!r} is not a host name")
        current.append(host.lower())
    return groups


def clusters(root: Path) -> list[Cluster]:
    """Every cluster of the repository that has a bootstrap.yml."""
    hosts = root / "hosts"
    groups = inventory(hosts.read_text(), str(hosts)) if hosts.exists() else {}
    out = []
    for path in sorted(root.glob("group_vars/*/bootstrap.yml")):
        name = path.parent.name
        if not CLUSTER.fullmatch(name):
            raise InvalidArgument(f"{path}: cluster name {name!r} may have only a-z, 0-9 "
                                  "and _ (at most 32, a letter first)")
        parsed = config.parse(path.read_text(), str(path))
        fqdns = {h.split(".", 1)[0]: h for h in groups.get(name, [])}
        for node in parsed.nodes:
            if "." not in fqdns.get(node.hostname, ""):
                raise InvalidArgument(f"{path}: node {node.hostname} has no fully qualified "
                                      f"name in group [{name}] of {hosts}")
        out.append(Cluster(name, parsed, fqdns))
    return out


FACTS_FILE = "bootstrap_facts.yml"  # in group_vars/<cluster>/: Ansible reads it too


def write_facts(root: Path, cluster: str, facts: dict[str, dict[str, Any]]) -> Path:
    """What was learnt of each node (hostname -> facts), as `bootstrap_facts` in the
    cluster's group_vars (written whole, sorted, so only real changes make a commit)."""
    path = root / "group_vars" / cluster / FACTS_FILE
    text = ("# Written by pvcbootstrapd: what it learnt of each server through its BMC.\n"
            + yaml.safe_dump({"bootstrap_facts": facts}, sort_keys=True,
                             default_flow_style=False))
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f".{FACTS_FILE}.new")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def _git(root: Path, *args: str) -> str:
    try:
        run = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"git {args[0]} in {root}: {exc}") from exc
    if run.returncode != 0:
        raise BackendError(f"git {args[0]} in {root}: {run.stderr.strip()[-500:]}")
    return run.stdout


def pull(root: Path) -> bool:
    """Bring the repository up to date with its remote (if it has one); whether it had."""
    if not (root / ".git").exists() or not _git(root, "remote").strip():
        return False
    _git(root, "pull", "--ff-only", "--quiet")
    return True


def commit(root: Path, paths: list[Path], message: str) -> bool:
    """Commit these files (and push, if there is a remote); False when nothing changed."""
    if not (root / ".git").exists():
        return False
    names = [str(p.relative_to(root)) for p in paths]
    _git(root, "add", "--", *names)
    if not _git(root, "status", "--porcelain", "--", *names).strip():
        return False
    _git(root, "-c", "user.name=pvcbootstrapd", "-c", "user.email=pvcbootstrapd@localhost",
         "commit", "--quiet", "-m", message, "--", *names)
    if _git(root, "remote").strip():
        _git(root, "push", "--quiet")
    return True
