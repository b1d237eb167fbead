"""The FRR configurations pvc-dev writes: who peers with whom, what is announced to the
upstream router, and that real bgpd reads every line of them (`bgpd -C`, a dry run that
prints an error for each line it does not understand)."""

from __future__ import annotations

import pytest

from pvc.devcluster import frr
from pvc.devcluster.layout import ClusterSpec

pytestmark = pytest.mark.integration

SPEC = ClusterSpec(name="frrconf", nodes=4, coordinators=3, subnet=77, root="/nonexistent")


@pytest.fixture(autouse=True)
def needs_frr() -> None:
    if not frr.available():
        pytest.skip("FRR is not installed (pvc-dev installs it)")


def test_bgpd_reads_every_written_line() -> None:
    for conf in (frr.bgpd_conf(SPEC, "hv1"), frr.bgpd_conf(SPEC, "hv4"),
                 frr.router_bgpd_conf(SPEC)):
        assert frr.dry_run_errors(conf) == ""


def test_the_dry_run_does_catch_a_bad_line() -> None:
    # what makes the test above able to fail
    assert "No such command" in frr.dry_run_errors("router bgp 1\n neighbor x peer-groupz\n")


def test_only_coordinators_peer_with_the_upstream_router_and_announce_client_subnets() -> None:
    coordinator, hypervisor = frr.bgpd_conf(SPEC, "hv1"), frr.bgpd_conf(SPEC, "hv4")
    assert " neighbor 10.77.0.253 peer-group upstream" in coordinator
    assert f" neighbor upstream remote-as {frr.UPSTREAM_ASN}" in coordinator
    assert "upstream" not in hypervisor and "redistribute" not in hypervisor
    # the core networks, link-local (metadata) and loopback stay inside; the rest goes out
    for prefix in ("10.77.0.0/24", "10.77.1.0/24", "10.77.2.0/24", "169.254.0.0/16",
                   "127.0.0.0/8"):
        assert f"deny {prefix} le 32" in coordinator
    assert "ip prefix-list pvc-not-core seq 100 permit 0.0.0.0/0 le 32" in coordinator
    assert "  neighbor upstream route-map pvc-client-subnets out" in coordinator
    assert "route-map pvc-upstream-in deny 10" in coordinator


def test_the_router_peers_with_each_coordinator_and_nothing_else() -> None:
    conf = frr.router_bgpd_conf(SPEC)
    neighbors = sorted(line.split()[1] for line in conf.splitlines()
                       if line.startswith(" neighbor 10."))
    assert neighbors == ["10.77.0.1", "10.77.0.2", "10.77.0.3"]
    assert f" neighbor pvc remote-as {frr.ASN}" in conf
