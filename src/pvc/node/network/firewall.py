"""The client networks' firewall as one nftables ruleset, rebuilt from the cluster state.

Table `inet pvc`:
- input: what a gateway accepts from its network (ICMP, DNS, DHCP, DHCPv6, NTP and the
  metadata HTTP port); anything else coming in on a managed network's bridge is dropped.
- forward: traffic into a managed network's subnet goes through `net<vni>-in`, traffic
  out of it through `net<vni>-out`: the network's ACLs, in order (policy accept).
Table `ip pvc-nat` (only with source NAT on): traffic from the managed networks leaves
through the upstream device under the node's own address.

Both are written as `table ..; delete table ..; table .. {..}` in one transaction, so
the previous ruleset is replaced whole or, if anything is refused, kept as it was.
The ACL rules are the canonical texts of `pvc.common.acl`, checked when they were stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pvc.common import names
from pvc.ops.network.spec import NetworkSpec

TABLE = "pvc"
NAT_TABLE = "pvc-nat"
GATEWAY_UDP = (53, 67, 123, 547)  # DNS, DHCP, NTP, DHCPv6
GATEWAY_TCP = (53, 80)  # DNS, the metadata API
Acls = Mapping[str, Sequence[Mapping[str, str]]]


def _ports(ports: Sequence[int]) -> str:
    return "{ " + ", ".join(str(p) for p in ports) + " }"


def ruleset(networks: Sequence[NetworkSpec], acls: Mapping[int, Acls],
            nat_device: str | None = None) -> str:
    managed = [n for n in networks if n.managed]
    lines = [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    lines += ["  chain input {", "    type filter hook input priority filter; policy accept;"]
    lines += [f'    iifname "vmbr{n.vni}" jump net{n.vni}-gateway' for n in managed]
    lines += ["  }", "  chain forward {",
              "    type filter hook forward priority filter; policy accept;"]
    for n in managed:
        for family, net in (("ip", n.ip4.network), ("ip6", n.ip6.network)):
            if net is not None:
                lines.append(f"    {family} daddr {net} jump net{n.vni}-in")
                lines.append(f"    {family} saddr {net} jump net{n.vni}-out")
    lines.append("  }")
    for n in managed:
        lines += [
            f"  chain net{n.vni}-gateway {{",
            "    ct state established,related accept",
            "    meta l4proto { icmp, ipv6-icmp } accept",
            f"    udp dport {_ports(GATEWAY_UDP)} accept",
            f"    tcp dport {_ports(GATEWAY_TCP)} accept",
            "    drop",
            "  }",
        ]
        for direction in ("in", "out"):
            lines.append(f"  chain net{n.vni}-{direction} {{")
            for entry in acls.get(n.vni, {}).get(direction, []):
                lines.append(f"    {entry['rule']}")
            lines.append("  }")
    lines.append("}")
    lines += [f"table ip {NAT_TABLE}", f"delete table ip {NAT_TABLE}"]
    subnets = [str(n.ip4.network) for n in managed if n.ip4.network is not None]
    if nat_device and subnets:
        dev = names.interface_name(nat_device)
        lines += [f"table ip {NAT_TABLE} {{", "  chain postrouting {",
                  "    type nat hook postrouting priority srcnat; policy accept;",
                  f'    ip saddr {{ {", ".join(subnets)} }} oifname "{dev}" masquerade',
                  "  }", "}"]
    return "\n".join(lines) + "\n"
