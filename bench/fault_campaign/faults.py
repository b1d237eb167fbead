"""The fault injectors: power-off, pvcnoded/ZooKeeper/libvirtd SIGKILL, cluster cut-off."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from bench.fault_campaign.outside import dev
from bench.fault_campaign.settings import CUT_HOLD, RESTART_SEC
from pvc.common.errors import BackendError
from pvc.devcluster import procs
from pvc.devcluster.layout import ClusterSpec
from pvc.devcluster.node import power
from pvc.drivers.fencing.ipmi import IpmiTool


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


def inject(spec: ClusterSpec, kind: str, node: str, rng: random.Random) -> str:
    """Inject one fault; returns a note (e.g. how long a link was cut)."""
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
        pids = node_pids(spec, node, is_zookeeper if kind == "zookeeper-kill" else is_libvirtd)
        if not pids:
            raise BackendError(f"no {kind.split('-')[0]} process on {node}")
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10  # gone (reaped by nodeinit) before the checks
        while time.monotonic() < deadline and any(
                procs.state(p) not in (None, "Z") for p in pids):
            time.sleep(0.05)
        return f"pid {','.join(map(str, pids))}"
    if kind == "cut-off":
        hold = rng.uniform(*CUT_HOLD)
        dev(spec, "link", node, "cluster", "down")
        time.sleep(hold)
        # a node fenced meanwhile was power-cycled, which plugs its links back
        dev(spec, "link", node, "cluster", "up", check=False)
        return f"held {hold:.1f} s"
    raise ValueError(kind)
