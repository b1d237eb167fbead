"""OVF descriptors read by the OVA import (pure parsing)."""

from __future__ import annotations

import pytest

from pvc.common.errors import InvalidArgument
from pvc.ops.provisioner.ova import parse_ovf
from tests import ovasupport


def test_hardware_and_disks_in_order() -> None:
    info = parse_ovf(ovasupport.ovf("m", 2, 768, [("a.vmdk", 1 << 30), ("b.vmdk", 5 << 20)]))
    assert (info.vcpus, info.memory_mb) == (2, 768)
    assert [(d.disk_id, d.href, d.capacity, d.image_format) for d in info.disks] == [
        ("sda", "a.vmdk", 1 << 30, "vmdk"), ("sdb", "b.vmdk", 5 << 20, "vmdk")]


@pytest.mark.parametrize("text,said", [
    ("not xml", "Invalid OVF"),
    (ovasupport.ovf("m", 1, 512, []), "no disks"),
    (ovasupport.ovf("m", 1, 512, [("../etc/passwd", 1)]), "no usable file"),
    (ovasupport.ovf("m", 1, 512, [("a.zip", 1)]).replace(ovasupport.VMDK_FORMAT, "zip"),
     "no known format"),
    (ovasupport.ovf("m", 0, 512, [("a.vmdk", 1)]), "0 vCPUs"),
    ('<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', "Invalid OVF"),
])
def test_bad_descriptors_are_refused_with_why(text: str, said: str) -> None:
    with pytest.raises(InvalidArgument, match=said):
        parse_ovf(text)
