"""A cluster's bootstrap.yml: read whole, and every bad line refused by its number."""

from __future__ import annotations

import pytest

from pvc.bootstrap.config import Bmc, BootstrapConfigError, Install, parse

GOOD = """\
nodes:
  "52:54:00:AA:00:01":
    hostname: hv1
    bmc:
      username: Administrator
      password: secret
      bios_settings: {BootMode: Uefi}
    install:
      system_disks: [detect:INTEL:480GB:0]
      filesystem: xfs
      packages: [vim]
      kernel_options: ["console=ttyS0,115200n8"]
  "52:54:00:aa:00:02":
    hostname: hv2
    bmc: {redfish: false}
    install: {mac: "52:54:00:BB:00:02"}
hooks:
  - name: data OSDs
    type: osd
    target: [hv1]
    args: {disk: /dev/sdb}
  - name: tell the team
    type: webhook
"""


def test_a_whole_file_is_read() -> None:
    config = parse(GOOD)
    hv1, hv2 = config.nodes
    assert (hv1.bmc_mac, hv1.hostname) == ("52:54:00:aa:00:01", "hv1")
    assert hv1.bmc == Bmc("Administrator", "secret", True, {"BootMode": "Uefi"}, {})
    assert hv1.install == Install(("detect:INTEL:480GB:0",), "xfs", Install.mirror, ("vim",),
                                  ("console=ttyS0,115200n8",), "")
    assert hv2.bmc.redfish is False and hv2.install == Install(mac="52:54:00:bb:00:02")
    assert config.node_by_bmc("52:54:00:AA:00:02") == hv2
    assert [(h.name, h.type, h.target) for h in config.hooks] == [
        ("data OSDs", "osd", ("hv1",)), ("tell the team", "webhook", ("all",))]
    assert config.hooks[0].args == {"disk": "/dev/sdb"}


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(("text", "message"), [
    (edit("    hostname: hv1\n", "    hostname: hv1\n    colour: blue\n"),
     "line 4: unknown key 'colour' in node 52:54:00:aa:00:01"),
    (edit('"52:54:00:AA:00:01"', '"52:54:00:AA:00"'),
     "line 2: '52:54:00:AA:00' is not a MAC address"),
    (edit('"52:54:00:aa:00:02"', '"52:54:00:AA:00:01"'), "line 13: BMC 52:54:00:aa:00:01 is "
     "given twice"),
    (edit("hostname: hv2", "hostname: hv1"), "line 14: hostname 'hv1' is given twice"),
    (edit("hostname: hv1", "hostname: HV_1"), "line 3: hostname 'HV_1' is not a host name"),
    (edit("      password: secret\n", ""), "line 3: node 52:54:00:aa:00:01: a Redfish BMC needs"),
    (edit("filesystem: xfs", "filesystem: zfs"), "line 10: filesystem 'zfs' is not one of"),
    (edit("[detect:INTEL:480GB:0]", "[detect:INTEL:lots:0]"), "line 9: system_disks: disk"),
    (edit("[vim]", "['vim; rm']"), "line 11: packages: package 'vim; rm'"),
    (edit("[detect:INTEL:480GB:0]", "[Disk.Bay.0, /dev/sdb]"), "line 9: node "
     "52:54:00:aa:00:01: system_disks names 2 disks; several are the Redfish drive ids"),
    (edit("[detect:INTEL:480GB:0]", "[Disk.Bay.0, Disk.Bay.0]"), "line 9: node "
     "52:54:00:aa:00:01: system_disks names a drive twice"),
    (edit("[detect:INTEL:480GB:0]", "[]"), "system_disks names 0 disks"),
    (edit("[detect:INTEL:480GB:0]", "['Disk;rm']"), "line 9: system_disks: system disk "
     "'Disk;rm' is neither"),
    (edit('{mac: "52:54:00:BB:00:02"}', '{mac: "52:54:00:BB:00:02", system_disks: [Disk.0]}'),
     "line 16: node 52:54:00:aa:00:02: system disk 'Disk.0' is a Redfish drive id, which "
     "needs redfish: true"),
    (edit("redfish: false", "redfish: maybe"), "line 15: node 52:54:00:aa:00:02 bmc redfish "
     "'maybe' is not true or false"),
    (edit("type: osd", "type: ceph"), "line 19: hook 'data OSDs': type 'ceph' is not one of"),
    (edit("target: [hv1]", "target: [hv7]"), "line 20: hook 'data OSDs': target 'hv7' is not"),
    (edit("hooks:", "hoks:"), "line 17: unknown key 'hoks' in the file"),
    (edit('    install: {mac: "52:54:00:BB:00:02"}\n', ""), "line 14: node 52:54:00:aa:00:02: "
     "without Redfish, install mac"),
    (edit('mac: "52:54:00:BB:00:02"', 'mac: "52:54:00:BB:00"'), "line 16: node "
     "52:54:00:aa:00:02 install mac '52:54:00:BB:00' is not a MAC address"),
    (edit('mac: "52:54:00:BB:00:02"', 'mac: "52:54:00:aa:00:01"'), "line 14: install mac "
     "52:54:00:aa:00:01 is given twice"),
    ("nodes: [a, b]\n", "line 1: nodes is not a mapping"),
    ("nodes:\n  x: [\n", "line 3: not YAML"),
    ("", "bootstrap.yml: the file is empty"),
    ("hooks: []\n", "line 1: the file has no 'nodes'"),
])
def test_a_bad_file_is_refused_naming_its_line(text: str, message: str) -> None:
    with pytest.raises(BootstrapConfigError) as err:
        parse(text)
    assert err.value.message.startswith("bootstrap.yml"), err.value.message
    assert message in err.value.message, err.value.message


def test_a_redfish_node_may_name_its_system_disk_by_drive_id() -> None:
    config = parse(edit("[detect:INTEL:480GB:0]", "[Disk.Bay.1:Enclosure.Internal.0-1]"))
    assert config.nodes[0].install.system_disks == ("Disk.Bay.1:Enclosure.Internal.0-1",)


def test_several_drive_ids_are_a_raid_volume() -> None:
    config = parse(edit("[detect:INTEL:480GB:0]", "[Disk.Bay.0, Disk.Bay.1]"))
    assert config.nodes[0].install.system_disks == ("Disk.Bay.0", "Disk.Bay.1")
