"""The cluster repository with real git: the daemon pulls what the operator pushed, and
pushes what it commits; a commit with nothing new makes none."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pvc.bootstrap import repo
from pvc.common.errors import BackendError

BOOTSTRAP_YML = 'nodes:\n  "52:54:00:aa:00:01":\n    hostname: hv1\n    bmc: {redfish: false}\n' \
    '    install: {mac: "52:54:00:bb:00:01"}\n'


def git(where: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(where), "-c", "user.name=op", "-c",
                           "user.email=op@example.net", *args], capture_output=True, text=True,
                          check=True).stdout


def test_pull_reads_the_operators_changes_and_commit_pushes_the_daemons(tmp_path: Path
                                                                        ) -> None:
    origin, operator, daemon = tmp_path / "origin.git", tmp_path / "op", tmp_path / "daemon"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(operator)], check=True)
    (operator / "group_vars" / "c1").mkdir(parents=True)
    (operator / "hosts").write_text("[c1]\nhv1.example.net\n")
    (operator / "group_vars" / "c1" / "bootstrap.yml").write_text(BOOTSTRAP_YML)
    git(operator, "add", "-A")
    git(operator, "commit", "-q", "-m", "c1")
    git(operator, "push", "-q", "origin", "HEAD:main")
    subprocess.run(["git", "clone", "-q", str(origin), str(daemon)], check=True)
    # the operator adds a node; the daemon's pull brings it
    (operator / "hosts").write_text("[c1]\nhv1.example.net\nhv2.example.net\n")
    (operator / "group_vars" / "c1" / "bootstrap.yml").write_text(
        BOOTSTRAP_YML + '  "52:54:00:aa:00:02":\n    hostname: hv2\n    bmc: {redfish: false}\n'
        '    install: {mac: "52:54:00:bb:00:02"}\n')
    git(operator, "commit", "-q", "-am", "hv2")
    git(operator, "push", "-q")
    assert repo.pull(daemon)
    (cluster,) = repo.clusters(daemon)
    assert [n.hostname for n in cluster.config.nodes] == ["hv1", "hv2"]
    assert cluster.fqdn("hv2") == "hv2.example.net"
    # the daemon's facts reach the operator
    path = repo.write_facts(daemon, "c1", {"hv1": {"serial": "S1"}})
    assert repo.commit(daemon, [path], "pvcbootstrapd: hv1 characterized")
    assert not repo.commit(daemon, [repo.write_facts(daemon, "c1", {"hv1": {"serial": "S1"}})],
                           "again")  # nothing new: no commit
    git(operator, "pull", "-q")
    facts = yaml.safe_load((operator / "group_vars" / "c1" / "bootstrap_facts.yml").read_text())
    assert facts == {"bootstrap_facts": {"hv1": {"serial": "S1"}}}
    assert git(operator, "log", "-1", "--format=%an: %s").strip() == \
        "pvcbootstrapd: pvcbootstrapd: hv1 characterized"


def test_a_pull_that_cannot_fast_forward_is_an_error_naming_git(tmp_path: Path) -> None:
    origin, a, b = tmp_path / "origin.git", tmp_path / "a", tmp_path / "b"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    for clone in (a, b):
        subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True,
                       capture_output=True)
    for clone, text in ((a, "one"), (b, "two")):
        (clone / "hosts").write_text(text)
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", text)
    git(a, "push", "-q", "origin", "HEAD:main")
    git(b, "fetch", "-q")
    git(b, "branch", "-q", "-u", "origin/main")
    with pytest.raises(BackendError, match="git pull in"):  # the two have diverged
        repo.pull(b)
