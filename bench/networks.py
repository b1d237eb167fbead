"""Client networks on a 3-node bench cluster, measured:

1. a new managed network until its VXLAN exists on every node, against the time until
   the network's record is seen through a ZooKeeper watch (the floor: what any node can
   know);
2. a guest's DHCP lease: from its NIC appearing to the lease bound (the guest's own clock,
   `/proc/uptime`), against its boot until the NIC appeared;
3. guest-to-guest TCP throughput (HTTP GET of a 16 MiB blob, the guests' own clocks)
   between two nodes over the managed network's VXLAN, against the same download from a
   guest on the server's own node (the same bridge, no VXLAN). The issue's baseline, a
   plain bridged (VLAN) network, cannot exist here: this kernel has no 802.1Q support;
4. routed traffic (a guest pinging its gateway every 50 ms without end, busybox
   `ping -i 0.05`; the guest prints each silence over 0.15 s) across a planned handover
   (`node secondary <primary>`) and across the primary's power-off through its BMC: the
   longest silence, against the longest in a quiet minute.

    sudo .venv/bin/python -m bench.networks [--networks 10] [--transfers 5] [--handovers 5]
                                            [--power-offs 2]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable

import httpx

from bench.common import (
    api,
    bench_cluster,
    define_and_start,
    median_line,
    say,
    wait_primary_change,
)
from pvc.devcluster import cluster, demo
from pvc.devcluster.guest.xml import GuestNet, Nic
from pvc.devcluster.layout import ClusterSpec
from pvc.drivers.fencing.ipmi import IpmiTool
from pvc.state.store import Store

GW = "10.100.0.1"
GAP = re.compile(r"^pvc-gap stream:\S+ \S+ ([0-9.]+) ([0-9.]+)$")
STREAM = re.compile(r"^pvc-stream stream:\S+ \S+ ([0-9.]+)$")
GET = re.compile(r"^pvc-get get:\S+ \S+ ([0-9.]+) ([0-9.]+)$")
BLOB_MIB = 16
NIC = re.compile(r"^PVC-NET-NIC \S+ \S+ ([0-9.]+)$")
LEASE = re.compile(r"^PVC-NET-LEASE .* ([0-9.]+)$")


def links(spec: ClusterSpec, node: str) -> str:
    return subprocess.run(["ip", "-n", spec.netns(node), "-br", "link", "show"],
                          capture_output=True, text=True, check=False).stdout


def seen_by(event: threading.Event) -> Callable[[bytes | None, object], bool]:
    """A data watch that sets `event` once the key exists, then stops watching."""
    def on(data: bytes | None, stat: object) -> bool:
        if data is not None:
            event.set()
            return False
        return True
    return on


def network_creation(spec: ClusterSpec, store: Store, count: int) -> tuple[list[float],
                                                                            list[float]]:
    """Per network: (seconds until every node has vxlan<vni>, until a watch saw it)."""
    c = api(spec)
    built, seen = [], []
    for i in range(count):
        vni = 400 + i
        watched = threading.Event()
        store.zk.DataWatch(store.path("network", vni=vni), seen_by(watched))
        began = time.monotonic()
        r = c.post("/network", params={"vni": vni, "description": f"bench{vni}",
                                       "nettype": "managed", "ip4_network": f"10.{i}.99.0/24"})
        if r.status_code != 200:
            raise SystemExit(f"network add failed: {r.text}")
        watched.wait(10)
        seen.append(time.monotonic() - began)
        pending = set(spec.node_names)
        while pending:
            pending = {n for n in pending if f"vxlan{vni} " not in links(spec, n)}
            if time.monotonic() - began > 30:
                raise SystemExit(f"network {vni} missing on {pending} after 30 s")
        built.append(time.monotonic() - began)
        c.delete(f"/network/{vni}")
    return built, seen


def console(c: httpx.Client, name: str) -> list[str]:
    r = c.get(f"/vm/{name}/console", params={"lines": 5000})
    return str(r.json()["data"]).splitlines()


def gaps_after(lines: list[str], after: float) -> list[float]:
    """The silences (s) of the guest's ping stream that ended after `after` (its clock)."""
    return [float(m.group(1)) for line in lines if (m := GAP.match(line))
            and float(m.group(2)) >= after]


def longest_silence(lines: list[str], after: float) -> float:
    """The longest silence since `after`; the stream's interval if none was printed."""
    return max(gaps_after(lines, after), default=0.05)


def guest_uptime(lines: list[str]) -> float:
    """The guest's clock at its latest line that tells it."""
    times = [float(m.group(2 if p is GAP else 1)) for line in lines
             for p in (GAP, STREAM) if (m := p.match(line))]
    return max(times, default=0.0)


def wait_lines(c: httpx.Client, name: str, pattern: re.Pattern[str], count: int,
               timeout: float) -> list[re.Match[str]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for x in console(c, name) if (m := pattern.match(x))]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"{name}: {len(found)} of {count} lines in {timeout:.0f} s")
        time.sleep(1)


def remove_vm(c: httpx.Client, name: str) -> None:
    c.post(f"/vm/{name}/state", params={"state": "stop", "wait": "true"})
    c.delete(f"/vm/{name}")


def throughput(spec: ClusterSpec, c: httpx.Client, server_node: str, far_node: str,
               transfers: int) -> tuple[list[float], list[float]]:
    """Mbit/s of each download from a server guest: by a guest on another node, then by
    one on the server's node."""
    xml = demo.vm_xml(spec, "tpserver", 128, nics=[Nic("vmbr100", "52:54:00:98:00:01")],
                      net=GuestNet(blob_mib=BLOB_MIB))
    define_and_start(c, "tpserver", server_node, xml)
    results = []
    for i, node in enumerate((far_node, server_node)):
        name = f"tpclient{i}"
        xml = demo.vm_xml(spec, name, 128, nics=[Nic("vmbr100", f"52:54:00:98:00:1{i}")],
                          net=GuestNet(probes=("get:tpserver.net100.local",), probe_ms=500))
        define_and_start(c, name, node, xml)
        done = wait_lines(c, name, GET, transfers + 1, 120 + 60 * transfers)
        # the first download warms the server's page cache and the guests' ARP/DNS
        results.append([BLOB_MIB * 8 * 1.048576 / (float(m.group(2)) - float(m.group(1)))
                        for m in done[1:transfers + 1]])
        remove_vm(c, name)
    remove_vm(c, "tpserver")
    return results[0], results[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", type=int, default=10)
    ap.add_argument("--transfers", type=int, default=5)
    ap.add_argument("--handovers", type=int, default=5)
    ap.add_argument("--power-offs", type=int, default=2)
    args = ap.parse_args()
    with bench_cluster() as spec:
        store = cluster.zk_store(spec)
        built, seen = network_creation(spec, store, args.networks)
        print(median_line("new network: VXLAN on every node", built, 2.0))
        print(median_line("new network: record seen by a watch (floor)", seen)
              + f"; ratio {statistics.median(built) / statistics.median(seen):.1f}x")

        c = api(spec)
        r = c.post("/network", params={"vni": 100, "description": "net100", "nettype": "managed",
                                       "ip4_network": "10.100.0.0/24", "dhcp4": "True",
                                       "dhcp4_start": "10.100.0.100",
                                       "dhcp4_end": "10.100.0.199"})
        if r.status_code != 200:
            raise SystemExit(r.text)
        primary = next(n for n, s in cluster.node_states(spec, store).items()
                       if s["coordinator_state"] == "primary")
        home = next(n for n in spec.node_names if n != primary)
        if args.transfers:
            far = next(n for n in spec.node_names if n not in (primary, home))
            across, local = throughput(spec, c, home, far, args.transfers)
            print(median_line("guest-to-guest TCP across nodes (managed VXLAN)", across,
                              unit="Mbit/s")
                  + f"; same node (bridge only): median {statistics.median(local):.1f} Mbit/s;"
                  f" ratio {statistics.median(across) / statistics.median(local):.2f}"
                  " (goal >= 0.8)")
        lease_times, nic_times = [], []
        for i in range(3):
            name = f"netbench{i}"
            xml = demo.vm_xml(spec, name, 128, nics=[Nic("vmbr100", f"52:54:00:99:00:0{i}")],
                              net=GuestNet(probes=(f"stream:{GW}",)))
            define_and_start(c, name, home, xml)
            deadline = time.monotonic() + 120
            while True:
                lines = console(c, name)
                nic = [float(m.group(1)) for x in lines if (m := NIC.match(x))]
                lease = [float(m.group(1)) for x in lines if (m := LEASE.match(x))]
                if nic and lease:
                    lease_times.append(lease[0] - nic[0])
                    nic_times.append(nic[0])
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} got no lease in 120 s")
                time.sleep(0.5)
            if i < 2:
                remove_vm(c, name)
        print(median_line("DHCP lease from the NIC appearing (guest clock)", lease_times)
              + f"; boot to NIC {statistics.median(nic_times):.2f} s")

        probe = "netbench2"
        wait_lines(c, probe, STREAM, 1, 60)
        start = guest_uptime(console(c, probe))
        time.sleep(60)
        quiet = longest_silence(console(c, probe), start)
        print(f"quiet minute: longest silence {quiet:.3f} s")
        gaps = []
        for run in range(args.handovers):
            old = next(n for n, s in cluster.node_states(spec, store).items()
                       if s["coordinator_state"] == "primary")
            start = guest_uptime(console(c, probe))
            c.post(f"/node/{old}/coordinator-state", params={"state": "secondary"})
            new = wait_primary_change(spec, store, old)
            time.sleep(4)
            gap = longest_silence(console(c, probe), start)
            gaps.append(gap)
            say(f"handover {run + 1}: {old} -> {new}, routed traffic silent {gap:.3f} s")
        print(median_line("planned handover: routed traffic silent", gaps, 1.0)
              + f"; {statistics.median(gaps) / quiet:.1f}x the quiet minute's longest")
        off_gaps = []
        for run in range(args.power_offs):
            old = next(n for n, s in cluster.node_states(spec, store).items()
                       if s["coordinator_state"] == "primary")
            if old == home:
                other = next(n for n in spec.node_names if n != home)
                c.post(f"/node/{other}/coordinator-state", params={"state": "primary"})
                old = wait_primary_change(spec, store, home)
                time.sleep(3)
            start = guest_uptime(console(c, probe))
            bmc = IpmiTool(str(spec.bmc_address(old)), spec.ipmi_username, spec.ipmi_password)
            bmc.power_off()
            new = wait_primary_change(spec, store, old)
            time.sleep(6)
            gap = longest_silence(console(c, probe), start)
            off_gaps.append(gap)
            say(f"power-off {run + 1}: {old} -> {new}, routed traffic silent {gap:.3f} s")
            bmc.power_on()
            cluster.wait_ready(spec, 240)
            c.post(f"/node/{old}/domain-state", params={"state": "ready", "wait": "true"})
        if off_gaps:
            print(median_line("primary power-off: routed traffic silent", off_gaps))
        cluster.close(store)


if __name__ == "__main__":
    main()
