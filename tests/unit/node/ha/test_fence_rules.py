"""The fence success rule and which VMs a fence moves (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from pvc.common import vm
from pvc.common.errors import InvalidArgument
from pvc.drivers.fencing.ipmi import IpmiTool
from pvc.node.ha.fencing import fence_succeeded, ipmi_power
from pvc.node.ha.recovery import _moves


@pytest.mark.parametrize(("first", "final", "ok"), [
    ("off", "on", True),  # off, then back on: the normal case
    ("off", "off", True),  # off and stays off (did not power on)
    ("off", None, True),  # confirmed off; the BMC went quiet afterwards
    (None, "off", True),  # the off step failed but the node is off at the end
    ("on", "off", True),
    ("on", "on", False),  # never seen off
    (None, "on", False),
    ("on", None, False),
    (None, None, False),  # the BMC never answered
])
def test_a_fence_succeeds_only_when_the_node_was_seen_off(first: str | None,
                                                          final: str | None, ok: bool) -> None:
    assert fence_succeeded(first, final) is ok


def status(state: str, node: str = "hv3", source: str = "") -> dict[str, Any]:
    s = vm.default_status(node, state)
    if source:
        s["intent"] = {"source": source}
    return s


@pytest.mark.parametrize(("record", "moves"), [
    (status("start"), True),
    (status("restart"), True),
    (status("stop"), False),  # not running: stays where it is
    (status("disable"), False),
    (status("fail"), False),
    (status("shutdown"), False),
    (status("start", node="hv1"), False),  # another node's VM
    (status("migrate", node="hv1", source="hv3"), True),  # leaving hv3: cannot finish
    (status("migrate", node="hv3", source="hv1"), False),  # coming to hv3: hv1 reverts it
    (status("unmigrate", node="hv2", source="hv3"), True),
])
def test_the_vms_a_fence_moves(record: dict[str, Any], moves: bool) -> None:
    assert _moves("hv3", record) is moves


def test_power_control_comes_from_the_node_record() -> None:
    power = ipmi_power("hv3", {"hostname": "hv3-lom", "username": "admin",
                               "password": "pw", "port": 6230})
    assert isinstance(power, IpmiTool)
    assert (power.host, power.username, power.port, power.interface) == (
        "hv3-lom", "admin", 6230, "lanplus")
    with pytest.raises(InvalidArgument, match="no IPMI settings"):
        ipmi_power("hv3", {})
    with pytest.raises(InvalidArgument, match="IPMI host"):
        ipmi_power("hv3", {"hostname": "-oProxyCommand=x", "username": "a", "password": "b"})
