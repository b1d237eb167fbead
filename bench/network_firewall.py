"""Replacing the client networks' nftables ruleset (`pvc.node.network.firewall`) with
1,000 ACLs on 10 managed networks, against the same ruleset with 10 ACLs (baseline), in
one process inside a network namespace of its own (`unshare -n`): the median time of one
whole replacement (one libnftables transaction), and whether the kernel holds every rule.

    sudo .venv/bin/python -m bench.network_firewall [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from pvc.common import acl
from pvc.drivers.network.firewall import NftFirewall
from pvc.node.network import firewall
from pvc.ops.network.spec import Limits, NetworkSpec, new

NETWORKS = 10


def specs() -> list[NetworkSpec]:
    return [new(100 + i, f"net{100 + i}", "managed", Limits(),
                ip4_network=f"10.{100 + i}.0.0/24") for i in range(NETWORKS)]


def acls(total: int) -> dict[int, dict[str, list[dict[str, str]]]]:
    """`total` checked rules spread over the networks, both directions."""
    out: dict[int, dict[str, list[dict[str, str]]]] = {
        100 + i: {"in": [], "out": []} for i in range(NETWORKS)}
    for n in range(total):
        vni, direction = 100 + n % NETWORKS, ("in", "out")[n // NETWORKS % 2]
        rule = acl.parse_rule(f"ip saddr 10.{n // 256 % 200}.{n % 256}.0/24 tcp dport "
                              f"{1000 + n % 60000} drop")
        out[vni][direction].append({"description": f"r{n}", "rule": rule.text})
    return out


def replace_times(total: int, rounds: int) -> list[float]:
    fw, nets, rules = NftFirewall(), specs(), acls(total)
    text = firewall.ruleset(nets, rules)
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        fw.apply(text)
        times.append(time.perf_counter() - began)
    listed = fw.ruleset("inet", firewall.TABLE).splitlines()
    held = sum(1 for line in listed if line.strip().endswith("drop"))
    expected = total + NETWORKS  # the ACLs and each gateway chain's final drop
    if held != expected:
        raise SystemExit(f"the kernel holds {held} drop rules, expected {expected}")
    return times


def inside(rounds: int) -> None:
    base = replace_times(10, rounds)
    big = replace_times(1000, rounds)
    b, m = statistics.median(base), statistics.median(big)
    print(f"nft ruleset replacement, {NETWORKS} networks (median of {rounds}):")
    print(f"  10 ACLs:    {b * 1000:.1f} ms")
    print(f"  1,000 ACLs: {m * 1000:.1f} ms ({m / b:.1f}x the 10-ACL ruleset)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.rounds)
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root (the bench makes a network namespace of its own)")
    cmd = ["unshare", "-n", sys.executable, "-m", "bench.network_firewall", "--inside",
           "--rounds", str(args.rounds)]
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
