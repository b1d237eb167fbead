"""Python's `$` also matches before a final newline: every validator must refuse a value
with one (it would reach a ZooKeeper key, a path, XML or a command line)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pvc.common import names, sizes, vmdevice
from pvc.common.errors import PVCError
from pvc.drivers.fencing import ipmi
from pvc.ops.network import spec
from pvc.ops.provisioner import profiles

NIC = "<interface type='bridge'><mac address='{}'/><source bridge='vmbr100'/></interface>"
CASES: list[tuple[str, Callable[[str], Any], str]] = [
    ("node", names.node_name, "hv1"),
    ("object", names.object_name, "web1"),
    ("storage", names.storage_name, "vms"),
    ("interface", names.interface_name, "eth0"),
    ("script argument", lambda v: profiles.check_arguments([v]), "release=bookworm"),
    ("bmc host", ipmi.validate_host, "hv1-lom"),
    ("bmc user", ipmi.validate_username, "admin"),
    ("nic mac", lambda v: vmdevice.parse(NIC.format(v)), "52:54:00:00:00:01"),
]


@pytest.mark.parametrize(("what", "check", "good"), CASES, ids=[c[0] for c in CASES])
def test_a_trailing_newline_is_refused(what: str, check: Callable[[str], Any],
                                       good: str) -> None:
    check(good)
    with pytest.raises((PVCError, ValueError)):
        check(good + "\n")


@pytest.mark.parametrize(("check", "value", "clean"), [
    (spec.domain_name, "net.local\n", "net.local"),
    (spec.hostname, "web1\n", "web1"),
    (sizes.parse_size, "10G\n", 10 * 1024**3),
])
def test_normalizing_validators_return_the_value_without_it(
        check: Callable[[str], Any], value: str, clean: Any) -> None:
    """These strip surrounding whitespace on purpose: what they hand on is clean."""
    assert check(value) == clean
