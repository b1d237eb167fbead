"""Bringing a set of targets up fresh and taking it down without a trace."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from pvc.common.errors import BackendError
from pvc.devcluster import procs
from pvc.devcluster.network import link_exists, netns_list
from pvc.devcluster.targets import aptcache, machines, rootfs
from pvc.devcluster.targets.layout import NETWORKS, TargetSpec


def _key(spec: TargetSpec) -> str:
    """The set's SSH public key (made in its state directory, which `up` has made)."""
    if not spec.ssh_key.exists():
        procs.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                   f"pvc-targets-{spec.name}", "-f", str(spec.ssh_key)],
                  "make the targets' SSH key")
    return Path(f"{spec.ssh_key}.pub").read_text()


def _taken(spec: TargetSpec) -> list[str]:
    """Names this set would use that something else already has."""
    links = [spec.bridge(n) for n in NETWORKS] + [
        spec.host_veth(h, n) for h in spec.hostnames for n in NETWORKS]
    return ([name for name in links if link_exists(name)]
            + [spec.netns(h) for h in spec.hostnames if spec.netns(h) in netns_list()])


def up(spec: TargetSpec) -> None:
    """Fresh targets, booted, each answering on SSH as `deploy` with sudo."""
    down(spec)
    taken = _taken(spec)
    if taken:
        raise BackendError(f"{', '.join(taken)} already exist and are not this target set's "
                           "(another cluster with the same prefix?): choose another prefix")
    spec.state_dir.mkdir(parents=True, exist_ok=True)  # from here on, the names are ours
    _owner_file(spec).write_text(str(os.getpid()))
    try:
        machines.create_bridges(spec)
        aptcache.start(spec)
        base = rootfs.base(spec)
        public = _key(spec)
        for host in spec.hostnames:
            rootfs.make(spec, host, base, public)
            machines.create_net(spec, host)
            machines.boot(spec, host)
        for host in spec.hostnames:
            machines.wait_ssh(spec, host)
    except BaseException:
        down(spec)
        raise


def _hosts(spec: TargetSpec) -> list[str]:
    """Every target this set has or had (an interrupted run may have made more)."""
    found = {p.name for p in spec.state_dir.glob("hv*") if p.is_dir()}
    return sorted(found | set(spec.hostnames))


def _owner_file(spec: TargetSpec) -> Path:
    return spec.state_dir / "owner.pid"


def _check_not_in_use(spec: TargetSpec) -> None:
    """A set made by a process that still runs (a test session) is that process's."""
    try:
        owner = int(_owner_file(spec).read_text())
    except (OSError, ValueError):
        return
    if owner != os.getpid() and procs.state(owner) not in (None, "Z"):
        raise BackendError(f"Targets {spec.name!r} are in use by process {owner} "
                           f"({' '.join(procs.cmdline(owner))[:120]}); wait for it to end")


def down(spec: TargetSpec) -> None:
    """Everything of this set goes; with no state directory, nothing here is ours."""
    if not spec.state_dir.exists():
        return
    _check_not_in_use(spec)
    hosts = _hosts(spec)
    machines.stop(spec, hosts)
    for host in hosts:
        machines.delete_net(spec, host)
    aptcache.stop(spec)
    machines.delete_bridges(spec)
    for tree in machines.CGROUPS:
        with contextlib.suppress(OSError):  # not there, or another set's targets in it
            (tree / "pvc-targets").rmdir()
    shutil.rmtree(spec.state_dir, ignore_errors=True)
    with contextlib.suppress(OSError):  # the last set gone: no empty directory left
        spec.state_dir.parent.rmdir()
