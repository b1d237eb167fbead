"""The fault injectors: power-off (also with the host's CPUs saturated), SIGKILL of
pvcnoded, ZooKeeper, libvirtd, pvcworkerd, the Redis master, pvcapid or a Ceph monitor,
cluster cut-off, and two light faults at once on two nodes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from bench.common import stress_load, stress_ng
from bench.fault_campaign.outside import dev
from bench.fault_campaign.settings import CUT_HOLD, LIGHT_KINDS, LOAD_SECONDS, RESTART_SEC
from pvc.common.errors import BackendError
from pvc.devcluster import procs
from pvc.devcluster.layout import ClusterSpec
from pvc.devcluster.node import power
from pvc.drivers.fencing.ipmi import IpmiTool
from pvc.tasks.broker import current_master

# stress-ng runs the campaign started (ended by their own --timeout, or by stop_load)
_LOADS: list[subprocess.Popen[bytes]] = []


def node_pids(spec: ClusterSpec, node: str, match: Callable[[list[str]], bool]) -> list[int]:
    """Host PIDs of the processes in the node's PID namespace whose command line matches."""
    init = power.init_pid(spec, node)
    if init is None:
        return []
    try:
        ns = os.readlink(f"/proc/{init}/ns/pid")
    except OSError:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == init:
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            args = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if match(args.split("\0")):
            out.append(int(entry))
    return out


def is_zookeeper(args: list[str]) -> bool:
    return any("QuorumPeerMain" in a for a in args)


def is_libvirtd(args: list[str]) -> bool:
    return bool(args) and os.path.basename(args[0]) == "libvirtd"


def is_worker(args: list[str]) -> bool:
    return "pvc.worker.main" in args or any(os.path.basename(a) == "pvcworkerd" for a in args)


def is_pvcapid(args: list[str]) -> bool:
    return "pvc.api.main" in args


def is_ceph_mon(args: list[str]) -> bool:
    return bool(args) and os.path.basename(args[0]) == "ceph-mon"


def is_redis(args: list[str]) -> bool:
    """The Redis server (its process title: `redis-server ADDRESS:6379`), not Sentinel."""
    return bool(args) and "redis-server" in args[0] and ":6379" in " ".join(args) \
        and "26379" not in " ".join(args)


def redis_master_node(spec: ClusterSpec) -> str | None:
    """The coordinator whose Redis the Sentinels name as the master now."""
    by_ip = {str(spec.node_address(n, "cluster").ip): n for n in spec.coordinator_names}
    master = current_master([(ip, 26379) for ip in by_ip], "pvc", len(by_ip))
    return by_ip.get(master[0]) if master else None


def primary_node(spec: ClusterSpec) -> str | None:
    """The node running pvcapid (the primary)."""
    return next((n for n in spec.node_names if node_pids(spec, n, is_pvcapid)), None)


def kill_all(spec: ClusterSpec, node: str, what: str,
             match: Callable[[list[str]], bool]) -> str:
    """SIGKILL the node's processes that `match` (as a crash would end them), and wait
    until they are gone (nodeinit or the primary's daemon restarts them)."""
    pids = node_pids(spec, node, match)
    if not pids:
        raise BackendError(f"no {what} process on {node}")
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10  # gone (reaped by nodeinit) before the checks
    while time.monotonic() < deadline and any(
            procs.state(p) not in (None, "Z") for p in pids):
        time.sleep(0.05)
    return f"{what} on {node}, pid {','.join(map(str, pids))}"


def saturate_cpus(seconds: float) -> str:
    """Every CPU of the host busy (four stress-ng workers a core) for `seconds`; a note."""
    load = stress_load(["cpu"])
    _LOADS.append(subprocess.Popen(
        [stress_ng(), *load, "--timeout", f"{int(seconds)}s", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return f"CPUs saturated for {seconds:.0f} s ({' '.join(load)})"


def stop_load() -> None:
    """End every stress-ng the campaign started that still runs."""
    while _LOADS:
        proc = _LOADS.pop()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def inject(spec: ClusterSpec, kind: str, node: str, rng: random.Random) -> str:
    """Inject one fault; returns a note (e.g. how long a link was cut)."""
    if kind == "loaded-power-off":
        note = saturate_cpus(LOAD_SECONDS)
        return f"{note}; " + inject(spec, "power-off", node, rng)
    if kind == "two-faults":
        first, second = rng.sample(LIGHT_KINDS, 2)
        other = rng.choice([n for n in spec.node_names if n != node])
        return (f"{first} on {node}: {inject(spec, first, node, rng) or 'done'}; "
                f"{second} on {other}: {inject(spec, second, other, rng) or 'done'}")
    if kind == "pvcworkerd-kill":
        return kill_all(spec, node, "pvcworkerd", is_worker)
    if kind == "ceph-mon-kill":
        return kill_all(spec, node, "ceph-mon", is_ceph_mon)
    if kind == "broker-kill":
        master = redis_master_node(spec)
        if master is None:
            raise BackendError("the Sentinels name no Redis master")
        return "the master: " + kill_all(spec, master, "redis-server", is_redis)
    if kind == "pvcapid-kill":
        primary = primary_node(spec)
        if primary is None:
            raise BackendError("no node runs pvcapid")
        return "the primary: " + kill_all(spec, primary, "pvcapid", is_pvcapid)
    if kind == "power-off":
        bmc = IpmiTool(str(spec.bmc_address(node)), spec.ipmi_username, spec.ipmi_password,
                       timeout=5)
        try:
            bmc.power_off()
        except BackendError:
            if bmc.power_status() != "off":
                raise
        # the node itself must be off, not only its BMC's word for it
        deadline = time.monotonic() + 10
        while power.init_pid(spec, node) is not None:
            if time.monotonic() > deadline:
                raise BackendError(f"the BMC of {node} took the power off, yet the node "
                                   f"still runs (BMC says {bmc.power_status()})")
            time.sleep(0.05)
        return ""
    if kind == "pvcnoded-kill":
        dev(spec, "service", node, "pvcnoded", "kill")
        # systemd's Restart=on-failure: once the daemon is gone, RestartSec, start again
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = dev(spec, "service", node, "pvcnoded", "status", check=False)
            if "stopped" in status or power.init_pid(spec, node) is None:
                break
            time.sleep(0.1)
        time.sleep(RESTART_SEC)
        if power.init_pid(spec, node) is None:
            return "node powered off before the restart"
        dev(spec, "service", node, "pvcnoded", "start", check=False)
        return ""
    if kind in ("zookeeper-kill", "libvirtd-kill"):
        return kill_all(spec, node, kind.split("-")[0],
                        is_zookeeper if kind == "zookeeper-kill" else is_libvirtd)
    if kind == "cut-off":
        hold = rng.uniform(*CUT_HOLD)
        dev(spec, "link", node, "cluster", "down")
        time.sleep(hold)
        # a node fenced meanwhile was power-cycled, which plugs its links back
        dev(spec, "link", node, "cluster", "up", check=False)
        return f"held {hold:.1f} s"
    raise ValueError(kind)
