"""Sizes with units, in and out."""

from __future__ import annotations

import pytest

from pvc.common.errors import InvalidArgument
from pvc.common.sizes import human, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("4096", 4096), ("1K", 1024), ("10G", 10 * 1024**3), ("10GB", 10 * 1024**3),
    ("10GiB", 10 * 1024**3), ("512m", 512 * 1024**2), ("1.5T", int(1.5 * 1024**4)),
    (" 2 M ", 2 * 1024**2), (7, 7), ("1P", 1024**5),
])
def test_parse(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "-1G", "0", "0G", "ten", "1X", "1 G B", "1..2G", "iB",
                                  "5iB", "1e9", "0.0001K"])
def test_refused_with_the_value_named(text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_size(text, "volume size")
    assert "volume size" in err.value.message


def test_human() -> None:
    assert human(512) == "512B"
    assert human(3 * 1024**3) == "3.0G"
    assert human(1536 * 1024) == "1.5M"


def test_vm_volume_renames_only_touch_volumes_named_after_the_vm() -> None:
    from pvc.ops.storage.vm_volumes import volume_renames

    got = volume_renames(["vms/web_disk0", "vms/web_data", "vms/shared", "ssd/webby"],
                         "web", "app")
    assert got == {"vms/web_disk0": "vms/app_disk0", "vms/web_data": "vms/app_data"}


def test_rbd_sources_renamed_in_the_xml() -> None:
    from pvc.common import vmxml

    xml = ("<domain><name>a</name><devices><disk type='network'><source protocol='rbd' "
           "name='vms/a_disk0'/></disk><disk type='file'><source file='vms/a_disk0'/></disk>"
           "</devices></domain>")
    out = vmxml.with_rbd_sources(xml, {"vms/a_disk0": "vms/b_disk0"})
    assert "name=\"vms/b_disk0\"" in out and "file=\"vms/a_disk0\"" in out
