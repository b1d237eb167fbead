"""A system disk named by a Redfish drive id becomes the installer's detect: rule that
picks that drive, and several become their RAID volume's (pure logic; the BMC's listing
and the volume are read from sushy-tools in the integration and installer tests)."""

from __future__ import annotations

import pytest

from pvc.bootstrap.redfish import Drive, install_disk
from pvc.common.errors import InvalidArgument
from pvc.installer import answers, machine

DRIVES = [Drive("Disk.Bay.0", "INTEL SSDSC2KB480G8R", 480_103_981_056),
          Drive("Disk.Bay.1", "INTEL SSDSC2KB480G8R", 480_103_981_056),
          Drive("Disk.Bay.2", "ST4000NM0035", 4_000_787_030_016),
          Drive("vdb.qcow2", "", 8_589_934_592),
          Drive("odd", "Mo:del\n", 2_000_000_000_000)]


@pytest.mark.parametrize(("given", "rule"), [
    ("Disk.Bay.0", "detect:INTEL SSDSC2KB48:480103981056B:0"),
    ("Disk.Bay.1", "detect:INTEL SSDSC2KB48:480103981056B:1"),
    ("Disk.Bay.2", "detect:ST4000NM0035:4000787030016B:0"),
    ("vdb.qcow2", "detect::8589934592B:0"),
    ("odd", "detect::2TB:0"),  # a model a rule cannot hold: the size alone
    ("/dev/sdb", "/dev/sdb"),
    ("detect:INTEL:480GB:1", "detect:INTEL:480GB:1"),
])
def test_the_rule_for_a_system_disk(given: str, rule: str) -> None:
    choice = install_disk((given,), DRIVES)
    assert str(choice) == rule
    # the rule reads back the same from the answer file
    assert answers.disk(str(choice)) == choice


def test_the_rule_picks_that_drive_on_the_machine() -> None:
    """The installer sees the kernel's names and models (the first 16 characters of a
    SATA model): the rule for Disk.Bay.2 picks the 4 TB disk, not the first one."""
    seen = [machine.Disk("/dev/sda", "INTEL SSDSC2KB48", 480_103_981_056),
            machine.Disk("/dev/sdb", "INTEL SSDSC2KB48", 480_103_981_056),
            machine.Disk("/dev/sdc", "ST4000NM0035-1V4", 4_000_787_030_016)]
    assert machine.pick_disk(install_disk(("Disk.Bay.2",), DRIVES), seen).path == "/dev/sdc"
    assert machine.pick_disk(install_disk(("Disk.Bay.1",), DRIVES), seen).path == "/dev/sdb"


@pytest.mark.parametrize(("given", "drives", "message"), [
    ("Disk.Bay.9", DRIVES, "system disk 'Disk.Bay.9' is not a drive the BMC lists (drives: "
     "Disk.Bay.0 (480.1 GB), Disk.Bay.1"),
    ("Disk.Bay.0", [], "(drives: none)"),
    ("Disk.Bay.0", [Drive("Disk.Bay.0", "X", 0)], "the BMC gives no size for drive"),
])
def test_a_drive_the_bmc_does_not_list_is_refused(given: str, drives: list[Drive],
                                                   message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        install_disk((given,), drives)
    assert message in err.value.message, err.value.message


def test_several_drives_are_their_raid_volume_by_its_size() -> None:
    volume = Drive("vol-1", "", 480_000_000_000, "/redfish/v1/Systems/1/Storage/1")
    choice = install_disk(("Disk.Bay.0", "Disk.Bay.1"), DRIVES, volume)
    assert str(choice) == "detect::480GB:0"
    assert answers.disk(str(choice)) == choice
    # what the facts keep of it reads back the same
    assert Drive.from_dict(volume.as_dict()) == volume
    with pytest.raises(InvalidArgument, match="is not made yet"):
        install_disk(("Disk.Bay.0", "Disk.Bay.1"), DRIVES)
