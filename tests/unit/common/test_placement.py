"""Target selection: eligibility, node limits, each selector, and memory reservations."""

from __future__ import annotations

import pytest

from pvc.common.placement import NodeLoad, choose


def node(name: str, free: int = 8000, prov: int = 0, vcpu: int = 0, load: float = 0.0,
         vms: int = 0, daemon: str = "run", domain: str = "ready") -> NodeLoad:
    return NodeLoad(name, daemon, domain, 16000, free, prov, vcpu, load, vms)


NODES = [
    node("hv1", free=4000, prov=9000, vcpu=8, load=2.0, vms=9),
    node("hv2", free=9000, prov=12000, vcpu=2, load=0.5, vms=4),
    node("hv3", free=6000, prov=1000, vcpu=4, load=0.1, vms=1),
]


@pytest.mark.parametrize(("selector", "expected"), [
    ("mem", "hv2"), ("memprov", "hv3"), ("vcpus", "hv2"), ("load", "hv3"), ("vms", "hv3"),
])
def test_each_selector_picks_its_best(selector: str, expected: str) -> None:
    assert choose(NODES, selector, 512) == expected


def test_only_run_and_ready_nodes_inside_the_limit() -> None:
    nodes = [node("hv1", daemon="dead"), node("hv2", domain="flushed"), node("hv3", free=100)]
    assert choose(nodes, "mem", 512) is None
    assert choose(NODES, "mem", 512, node_limit=["hv1", "hv3"]) == "hv3"
    assert choose(NODES, "mem", 512, exclude=["hv2"]) == "hv3"
    assert choose(NODES, "mem", 512, exclude=["hv2", "hv3"], node_limit=["hv2", "hv3"]) is None


def test_memory_must_fit_and_reservations_count() -> None:
    assert choose(NODES, "mem", 9500) is None
    assert choose(NODES, "mem", 5000) == "hv2"
    # hv2 already has 5000 MiB on the way: the next 5000 MiB VM goes to hv3
    assert choose(NODES, "mem", 5000, reserved={"hv2": 5000}) == "hv3"
    assert choose(NODES, "mem", 5000, reserved={"hv2": 5000, "hv3": 2000}) is None


def test_unknown_selector_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        choose(NODES, "random", 1)
