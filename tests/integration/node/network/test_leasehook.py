"""dnsmasq's lease hook against a real ZooKeeper: leases are recorded and forgotten as
dnsmasq reports them, and handed back on `init` (what a new primary's dnsmasq starts
from); and the hook file dnsmasq runs does the same as a process of its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pvc.node.network import leasehook
from pvc.ops.network import networks, records
from pvc.ops.network.spec import Limits
from pvc.state import tree
from pvc.state.store import Store

MAC = "52:54:00:00:00:0a"
ENV = {"DNSMASQ_LEASE_EXPIRES": "1900000000", "DNSMASQ_CLIENT_ID": "01:52:54:00:00:00:0a"}


def test_leases_are_recorded_forgotten_and_handed_back(store: Store) -> None:
    tree.initialize(store)
    networks.add(store, Limits(), 100, "net100", "managed", ip4_network="10.100.0.0/24")
    assert leasehook.handle(store, 100, ["init"], {}) == []
    leasehook.handle(store, 100, ["add", MAC.upper(), "10.100.0.150", "web1"], ENV)
    leasehook.handle(store, 100, ["add", "52:54:00:00:00:0b", "10.100.0.151"],
                     {"DNSMASQ_SUPPLIED_HOSTNAME": "bad name;", "DNSMASQ_LEASE_EXPIRES": "5"})
    assert dict(records.leases(store, 100))[MAC] == {
        "ip4": "10.100.0.150", "hostname": "web1", "expiry": 1900000000,
        "client_id": "01:52:54:00:00:00:0a"}
    assert leasehook.handle(store, 100, ["init"], {}) == [
        f"1900000000 {MAC} 10.100.0.150 web1 01:52:54:00:00:00:0a",
        "5 52:54:00:00:00:0b 10.100.0.151 * *"]
    leasehook.handle(store, 100, ["old", MAC, "10.100.0.150", "web1"],
                     {**ENV, "DNSMASQ_LEASE_EXPIRES": "1900000100"})
    assert dict(records.leases(store, 100))[MAC]["expiry"] == 1900000100
    leasehook.handle(store, 100, ["del", MAC, "10.100.0.150"], {})
    assert [m for m, _ in records.leases(store, 100)] == ["52:54:00:00:00:0b"]
    assert leasehook.handle(store, 100, ["tftp", "x", "y"], {}) == []


def test_the_hook_file_runs_as_dnsmasq_runs_it(store: Store, zk_hosts: str,
                                               tmp_path: Path) -> None:
    tree.initialize(store)
    networks.add(store, Limits(), 100, "net100", "managed", ip4_network="10.100.0.0/24")
    hook = tmp_path / "lease-hook"
    leasehook.write_hook(hook, 100, zk_hosts)
    assert os.access(hook, os.X_OK)
    env = {**os.environ, **ENV}
    done = subprocess.run([str(hook), "add", MAC, "10.100.0.150", "web1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run([str(hook), "init"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert listed.stdout.splitlines() == [
        f"1900000000 {MAC} 10.100.0.150 web1 01:52:54:00:00:00:0a"]
