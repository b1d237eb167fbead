"""The campaign's settings: its cluster, the fault kinds, and the timings it works with."""

from __future__ import annotations

from pathlib import Path

from pvc.devcluster.layout import ClusterSpec

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
KINDS = ("power-off", "pvcnoded-kill", "zookeeper-kill", "libvirtd-kill", "cut-off",
         "pvcworkerd-kill", "broker-kill", "pvcapid-kill", "ceph-mon-kill",
         "loaded-power-off", "two-faults")
# What `two-faults` draws two of (on two different nodes): faults a node heals alone.
# (Two ZooKeeper kills at once would take the ensemble's quorum: one at most.)
LIGHT_KINDS = ("pvcnoded-kill", "zookeeper-kill", "libvirtd-kill", "pvcworkerd-kill",
               "ceph-mon-kill")
LOAD_SECONDS = 45.0  # how long `loaded-power-off` keeps the host's CPUs saturated
POOL = "vms"
RESTART_SEC = 1.0  # the systemd stand-in's delay before restarting a killed pvcnoded
CUT_HOLD = (2.0, 20.0)  # seconds a node's cluster link stays down
SAMPLE_INTERVAL = 0.2
READY_WAIT = 120.0  # seconds the campaign waits for one `pvc node ready --wait`
KEEPALIVE_STALE = 5.0  # seconds: a node's last keepalive older than this is no health


def campaign_spec() -> ClusterSpec:
    return ClusterSpec(name="pvccamp", prefix="ck", subnet=70, nodes=3, coordinators=3,
                       vm_shutdown_timeout=10)
