"""MAC templates: what a VM's interface gets, and the templates that are refused."""

from __future__ import annotations

import pytest

from pvc.common.errors import InvalidArgument
from pvc.ops.provisioner.macs import check_mac_template, render_mac, vm_number

TEMPLATE = "{prefix}:{vmid}:{netid}:01"


@pytest.mark.parametrize(("vm", "netid", "mac"), [
    ("web1", 0, "52:54:01:01:00:01"),
    ("web12", 0, "52:54:01:0c:00:01"),
    ("web12", 3, "52:54:01:0c:03:01"),
    ("db", 1, "52:54:01:00:01:01"),  # no number: vmid 0
    ("web-2024-7", 0, "52:54:01:07:00:01"),  # only the digits at the very end
    ("node255", 255, "52:54:01:ff:ff:01"),
    ("app007", 10, "52:54:01:07:0a:01"),
])
def test_a_vm_gets_its_number_and_interface_in_hex(vm: str, netid: int, mac: str) -> None:
    assert render_mac(TEMPLATE, vm, netid) == mac


def test_placeholders_may_stand_anywhere_and_repeat() -> None:
    assert render_mac("02:{netid}:{vmid}:{vmid}:aa:bb", "web5", 2) == "02:02:05:05:aa:bb"
    assert render_mac("{prefix}:{vmid}:{netid}:ff", "x9", 0) == "52:54:01:09:00:ff"
    assert render_mac("02:00:00:00:00:01", "web3", 0) == "02:00:00:00:00:01"


def test_the_vm_number_is_the_suffix_or_zero() -> None:
    assert [vm_number(n) for n in ("web1", "web12", "db", "a1b", "7")] == [1, 12, 0, 0, 7]


def test_a_vm_number_above_one_octet_is_refused_clearly() -> None:
    with pytest.raises(InvalidArgument, match=r"web256.*256.*above 255"):
        render_mac(TEMPLATE, "web256", 0)
    with pytest.raises(InvalidArgument, match="netid"):
        render_mac(TEMPLATE, "web1", 256)
    with pytest.raises(InvalidArgument, match="netid"):
        render_mac(TEMPLATE, "web1", -1)


@pytest.mark.parametrize("template", [
    TEMPLATE, "{prefix}:{netid}:{vmid}:00", "02:00:{vmid}:00:{netid}:00", "fe:ff:ff:ff:ff:ff",
])
def test_good_templates_pass_unchanged(template: str) -> None:
    assert check_mac_template(template) == template


@pytest.mark.parametrize(("template", "message"), [
    ("", "empty"),
    ("{prefix}:{vmid}:{netid}", "not six"),  # five octets
    ("{prefix}:{vmid}:{netid}:01:02", "not six"),  # seven
    ("{prefix}:{vmid}:{netid}:1", "not six"),  # one digit
    ("{prefix}:{vmid}:{netid}:0A", "not six"),  # uppercase
    ("{prefix}:{vmid}:{netid}:0g", "not six"),  # not hex
    ("{prefix}-{vmid}-{netid}-01", "not six"),  # wrong separator
    ("{prefix}:{vmid}:{netid}:01 ", "not six"),  # stray space
    ("{prefix}:{vmid}:{netid}:01\n", "not six"),  # stray line break
    ("{prefix}:{vmid}{netid}:00:01", "not six"),
    ("01:00:00:{vmid}:{netid}:00", "multicast"),
    ("ff:ff:ff:ff:ff:ff", "multicast"),  # broadcast
    ("{vmid}:00:00:00:{netid}:00", "multicast"),  # odd VM numbers would be multicast
    ("{prefix}:{vm}:{netid}:01", "unknown placeholder"),
    ("{prefix}:{VMID}:{netid}:01", "unknown placeholder"),
    ("{prefix}:{}:{netid}:01", "unknown placeholder"),
    ("{prefix}:{vmid}:{netid}:01}", "brace"),
    ("{prefix}:{{vmid}}:{netid}:01", "brace"),
    ("{prefix}:{vmid:02x}:{netid}:01", "unknown placeholder"),
])
def test_bad_templates_are_refused_naming_the_fault(template: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_mac_template(template)
    with pytest.raises(InvalidArgument):
        render_mac(template, "web1", 0)
