"""The Ansible kit (deploy/ansible) on three fresh Debian 12 servers: systemd-nspawn
targets booted from their own roots, reaching packages only through the host's
apt-cacher-ng. The playbook first refuses bad variables without touching a server, then
converges the servers (base system, networks, the PVC package built from this checkout,
pvc.conf), changes nothing on a second run, and upgrades the package to a newer build."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from pvc.devcluster import package as debpkg
from pvc.devcluster.targets import lifecycle
from pvc.devcluster.targets.layout import TargetSpec
from tests.deploy.support import (
    REPO,
    Run,
    make_repo,
    node_vars,
    on,
    playbook,
    redis_roles,
    zookeeper_modes,
    zookeeper_word,
)

pytestmark = pytest.mark.timeout(3600)

VERSION = debpkg.checkout_version(REPO)
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module")
def spec() -> Iterator[TargetSpec]:
    if os.geteuid() != 0:
        pytest.skip("deployment tests need root: run `sudo ./pvc-dev test`")
    spec = TargetSpec(name="ansible", count=3)
    lifecycle.up(spec)
    try:
        yield spec
    finally:
        lifecycle.down(spec)
        if FIGURES:
            print("\nAnsible figures: " + ", ".join(f"{k} {v:.0f} s"
                                                  for k, v in FIGURES.items()))


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("packages")
    return {"current": debpkg.build(REPO, out),
            "newer": debpkg.build(REPO, out, f"{VERSION}+upgrade.1")}


@pytest.fixture(scope="module")
def repo(spec: TargetSpec, packages: dict[str, Path],
         tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(spec, tmp_path_factory.mktemp("operator"), packages["current"])


def untouched(spec: TargetSpec) -> None:
    """Still as the installer left them: no PVC, and no file written by Ansible (each
    template the roles write starts with Ansible's "managed" mark)."""
    for host in spec.hostnames:
        assert on(spec, host, "test -e /etc/pvc && echo yes || echo no").strip() == "no"
        marked = on(spec, host, "grep -l 'Ansible managed' /etc/apt/sources.list /etc/hosts "
                                "/etc/network/interfaces /etc/sudoers.d/* || true")
        assert marked.strip() == "", f"{host} was changed: {marked}"


Change = Callable[[TargetSpec, dict[str, Any]], dict[str, Any]]


def _nodes(change: Callable[[list[dict[str, Any]]], None]) -> Change:
    def make(spec: TargetSpec, networks: dict[str, Any]) -> dict[str, Any]:
        nodes = node_vars(spec)
        change(nodes)
        return {"pvc_nodes": nodes}
    return make


def _network(name: str, **values: Any) -> Change:
    def make(spec: TargetSpec, networks: dict[str, Any]) -> dict[str, Any]:
        networks[name].update(values)
        return {"networks": networks}
    return make


def _value(**values: Any) -> Change:
    return lambda spec, networks: values


@pytest.mark.parametrize(("change", "named"), [
    (_nodes(lambda n: n[2].update(is_coordinator=False)),
     "pvc_nodes: 2 coordinators (hv1, hv2); a cluster needs 1, 3 or 5"),
    (_nodes(lambda n: n[1].update(ipmi_host="")),
     "pvc_nodes entry hv2: it needs a lower-case hostname, a node_id from 1, upstream_ip, "
     "cluster_ip and storage_ip, and the fencing BMC's ipmi_host, ipmi_user and "
     "ipmi_password (missing or empty: ipmi_host)"),
    (_network("storage", type="bond"), "networks.storage: type bond with device ens6"),
    (_network("cluster", type="infiniband"), "networks.cluster: type infiniband"),
    (_value(pvc_fence_failed_action="reboot"), "pvc_fence_successful_action and "
                                               "pvc_fence_failed_action are migrate or none"),
    (_value(pvc_api_secret_key=""), "pvc_api_secret_key is empty"),
    (_value(pvc_package_file="/nonexistent/pvc.deb"),
     "pvc_package_file '/nonexistent/pvc.deb' is not a file on this machine"),
])
def test_bad_variables_fail_before_any_server_is_touched(
        spec: TargetSpec, repo: Path, change: Change, named: str) -> None:
    networks = yaml.safe_load((repo / "group_vars/test/base.yml").read_text())["networks"]
    run = playbook(spec, repo, extra=change(spec, networks))
    assert run.rc != 0
    assert named in " ".join(run.output.split()), run.output[-3000:]
    untouched(spec)


def converge(spec: TargetSpec, repo: Path, *args: str) -> Run:
    started = time.monotonic()
    run = playbook(spec, repo, *args)
    assert run.rc == 0, run.output[-4000:]
    FIGURES[f"run {len(FIGURES) + 1}"] = time.monotonic() - started
    return run


def test_the_first_run_builds_every_server(spec: TargetSpec, repo: Path) -> None:
    run = converge(spec, repo, "-e", "do_bootstrap=yes")
    assert set(run.stats()) == {f"{h}.deploy.test" for h in spec.hostnames}
    for host in spec.hostnames:
        assert on(spec, host, "hostname").strip() == host
        # the cluster and storage networks are up with this server's addresses
        for net in ("cluster", "storage"):
            assert str(spec.address(host, net)) in on(spec, host, "ip -br -4 addr")
            # reachable there from the host's side of the bridge (its SSH server answers)
            socket.create_connection((str(spec.address(host, net).ip), 22), timeout=5).close()
        assert f"{spec.address('hv2', 'cluster').ip}\thv2.pvc.local" in on(
            spec, host, "cat /etc/hosts")
        assert on(spec, host, "head -n 1 /etc/hosts").strip() == "# Ansible managed"
        assert on(spec, host, "cat /etc/timezone").strip() == "Etc/UTC"
        # packages came from the site's mirror (the apt cache), as the variables say
        assert spec.mirror in on(spec, host, "cat /etc/apt/sources.list")
        assert "PermitRootLogin no" in on(spec, host, "cat /etc/ssh/sshd_config.d/pvc.conf")
        # PVC: the package built from this checkout, its commands, a valid pvc.conf
        assert on(spec, host, "dpkg-query -W -f '${Version}' pvc") == VERSION
        assert f"version {VERSION}" in on(spec, host, "pvc --version")
        assert on(spec, host, "stat -c %a /etc/pvc/pvc.conf").strip() == "600"
        checked = on(spec, host, f"pvcnoded --check-config /etc/pvc/pvc.conf --node {host}")
        assert "valid configuration of cluster test" in checked
        conf = on(spec, host, "cat /etc/pvc/pvc.conf")
        assert f"hostname: \"{host}-lom.deploy.test\"" in conf
        assert "domain_type: \"qemu\"" in conf
    # libvirt: each node's libvirtd answers the others on its cluster address, with a
    # host UUID of its own (live migration needs both)
    uuids = set()
    for host in spec.hostnames:
        uri = f"qemu+tcp://{spec.address(host, 'cluster').ip}/system"
        caps = subprocess.run(["virsh", "-c", uri, "capabilities"], capture_output=True,
                              text=True, timeout=60, check=True).stdout
        assert "<domain type='qemu'/>" in caps
        found = re.search(r"<uuid>([0-9a-f-]+)</uuid>", caps)
        assert found is not None
        uuids.add(found.group(1))
    assert len(uuids) == len(spec.hostnames)
    # ZooKeeper: one ensemble of the three coordinators on their cluster addresses
    modes = zookeeper_modes([str(spec.address(h, "cluster").ip) for h in spec.hostnames])
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    leader = next(a for a, m in modes.items() if m == "leader")
    assert "zk_synced_followers\t2" in zookeeper_word(leader, "mntr")
    # the task broker: hv1's Redis the master, the others its replicas, and every
    # coordinator's Sentinel naming hv1 as the master
    addresses = [str(spec.address(h, "cluster").ip) for h in spec.hostnames]
    roles = redis_roles(addresses)
    assert roles == {addresses[0]: "master", addresses[1]: "slave", addresses[2]: "slave"}
    for address in addresses:
        sentinel = redis.Redis(host=address, port=26379, socket_timeout=5,
                               decode_responses=True)
        assert sentinel.sentinel_get_master_addr_by_name("pvc") == (addresses[0], 6379)


def test_a_second_run_changes_nothing(spec: TargetSpec, repo: Path) -> None:
    run = converge(spec, repo)
    assert set(run.changed().values()) == {0}, run.changed_tasks()


def test_a_newer_package_is_installed_on_every_server(
        spec: TargetSpec, repo: Path, packages: dict[str, Path]) -> None:
    run = converge(spec, repo, "-e", f"pvc_package_file={packages['newer']}")
    assert all(run.changed().values()), run.changed_tasks()
    for host in spec.hostnames:
        assert on(spec, host, "dpkg-query -W -f '${Version}' pvc") == f"{VERSION}+upgrade.1"
        assert "version " + f"{VERSION}+upgrade.1" in on(spec, host, "pvc --version")
