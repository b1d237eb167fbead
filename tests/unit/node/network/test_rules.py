"""The client networks' nftables ruleset and links plan, built from network records."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pvc.node.network import firewall
from pvc.node.network.datapath import stale, wanted
from pvc.ops.network.spec import Limits, new

NET100 = new(100, "net100", "managed", Limits(), ip4_network="10.100.0.0/24",
             ip6_network="fd00:100::/64")
NET200 = new(200, "net200", "managed", Limits(), ip4_network="10.200.0.0/24")
BRIDGED = new(30, "vlan30", "bridged", Limits())
ACLS = {100: {"in": [{"description": "a", "rule": "tcp dport 22 drop"},
                     {"description": "b", "rule": "ip saddr 10.9.0.0/16 accept"}],
              "out": [{"description": "c", "rule": "udp dport 53 counter accept"}]}}


def test_the_ruleset_filters_only_managed_networks_with_their_acls_in_order() -> None:
    text = firewall.ruleset([NET100, NET200, BRIDGED], ACLS)
    assert text.startswith("table inet pvc\ndelete table inet pvc\n")
    assert 'iifname "vmbr100" jump net100-gateway' in text
    assert "vmbr30" not in text and "net30" not in text
    assert "ip daddr 10.100.0.0/24 jump net100-in" in text
    assert "ip6 saddr fd00:100::/64 jump net100-out" in text
    chain = text.split("chain net100-in {")[1].split("}")[0]
    assert [line.strip() for line in chain.strip().splitlines()] == [
        "tcp dport 22 drop", "ip saddr 10.9.0.0/16 accept"]
    assert "masquerade" not in text


def test_source_nat_covers_every_managed_ipv4_subnet() -> None:
    text = firewall.ruleset([NET100, NET200], {}, nat_device="upstream")
    assert 'ip saddr { 10.100.0.0/24, 10.200.0.0/24 } oifname "upstream" masquerade' in text


def test_nftables_accepts_the_ruleset() -> None:
    if not shutil.which("nft") or not shutil.which("unshare"):
        pytest.skip("nft or unshare is not installed")
    text = firewall.ruleset([NET100, NET200, BRIDGED], ACLS, nat_device="upstream")
    res = subprocess.run(["unshare", "-rn", "nft", "-c", "-f", "-"], input=text, text=True,
                         capture_output=True, check=False)
    if res.returncode != 0 and "Operation not permitted" in res.stderr:
        pytest.skip("no user namespaces here")
    assert res.returncode == 0, res.stderr


def test_the_links_plan_and_what_is_stale() -> None:
    plan = wanted([NET100, BRIDGED], Limits(cluster_mtu=9000, bridge_mtu=1500))
    assert [(w.bridge, w.port, w.managed, w.mtu) for w in plan] == [
        ("vmbr100", "vxlan100", True, 8950), ("vmbr30", "vlan30", False, 1500)]
    present = ["lo", "cluster", "vmbr100", "vxlan100", "vmbr7", "vxlan7", "vlan9", "vmbrx",
               "vlan30"]
    assert stale(present, plan) == ["vlan9", "vxlan7", "vmbr7"]
