"""The XML of a provisioned VM (pvc.provisioner.domain), read back by our own parser."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pvc.common import vmxml
from pvc.common.errors import InvalidArgument
from pvc.provisioner.domain import domain_xml

UUID = str(uuid.uuid4())


def data(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "profile": "web",
        "system_details": {"vcpu_count": 2, "vram_mb": 1024, "serial": True, "vnc": False},
        "networks": [{"vni": "100", "eth_bridge": "vmbr100", "mac": "52:54:01:07:00:01"},
                     {"vni": "200", "eth_bridge": "vmbr200", "mac": None}],
        "volumes": [{"pool": "vms", "disk_id": "sda"}, {"pool": "ssd", "disk_id": "vdb"}],
        "ceph_monitor_list": ["10.0.2.1", "10.0.2.2"], "ceph_monitor_port": 6789,
        "ceph_monitor_secret": "f75c1d61-b821-5c3f-9738-1800e4263d84",
        "ceph_monitor_user": "libvirt",
    }
    base.update(changes)
    return base


def test_the_xml_holds_the_templates_disks_nics_and_console() -> None:
    xml = domain_xml("web7", UUID, data())
    spec = vmxml.parse(xml)
    assert (spec.name, spec.uuid, spec.memory_mib, spec.vcpus) == ("web7", UUID, 1024, 2)
    assert list(spec.rbd_volumes) == ["vms/web7_sda", "ssd/web7_vdb"]
    assert [n.vni for n in spec.nics] == ["100", "200"]
    assert spec.nics[0].mac == "52:54:01:07:00:01"
    assert spec.serial_log == "/var/log/libvirt/web7.log"
    assert 'model="virtio-scsi"' in xml and 'bus="scsi"' in xml and 'bus="virtio"' in xml
    assert 'username="libvirt"' in xml and '<host name="10.0.2.2" port="6789"' in xml
    assert "<boot dev=\"hd\"" in xml and "<kernel>" not in xml


def test_direct_kernel_boot_and_no_serial_or_auth() -> None:
    xml = domain_xml("k1", UUID, data(
        system_details={"vcpu_count": 1, "vram_mb": 128, "serial": False, "vnc": True,
                        "vnc_bind": "0.0.0.0"},
        ceph_monitor_secret="", networks=[], volumes=[{"pool": "vms", "disk_id": "vda"}]),
        kernel="/srv/vmlinuz", initrd="/srv/initrd", cmdline="console=ttyS0")
    spec = vmxml.parse(xml)
    assert spec.serial_log == "" and "<auth" not in xml
    assert "<kernel>/srv/vmlinuz</kernel>" in xml and "<cmdline>console=ttyS0</cmdline>" in xml
    assert 'type="vnc"' in xml and 'listen="0.0.0.0"' in xml


@pytest.mark.parametrize("name,changes,kernel", [
    ("bad name", {}, None),
    ("k1", {"volumes": [{"pool": "vms", "disk_id": "xda"}]}, None),
    ("k1", {"volumes": [{"pool": "../x", "disk_id": "vda"}]}, None),
    ("k1", {"networks": [{"vni": "1", "eth_bridge": "br;rm", "mac": None}]}, None),
    ("k1", {}, "relative/vmlinuz"),
    ("k1", {"ceph_monitor_list": []}, None),
])
def test_bad_values_are_refused(name: str, changes: dict[str, Any], kernel: str | None) -> None:
    with pytest.raises(InvalidArgument):
        domain_xml(name, UUID, data(**changes), kernel=kernel)
