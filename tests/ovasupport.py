"""OVA archives made by the tests: an OVF 1.0 descriptor written here (hardware, disk
map) and disk images made with qemu-img, tarred with the descriptor first."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>{files}</References>
  <DiskSection><Info>Virtual disks</Info>{disks}</DiskSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A test machine</Info>
    <VirtualHardwareSection>
      <Info>Hardware</Info>
      <Item><rasd:ElementName>cpus</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{vcpus}</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>memory</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{memory}</rasd:VirtualQuantity></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""
VMDK_FORMAT = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"


def ovf(name: str, vcpus: int, memory_mb: int, disks: Sequence[tuple[str, int]]) -> str:
    """An OVF whose disks are (file name, capacity in bytes), all streamOptimized VMDK."""
    files = "".join(f'<File ovf:id="file{i}" ovf:href="{href}"/>'
                    for i, (href, _) in enumerate(disks))
    disk_xml = "".join(f'<Disk ovf:diskId="disk{i}" ovf:fileRef="file{i}" '
                       f'ovf:capacity="{cap}" ovf:format="{VMDK_FORMAT}"/>'
                       for i, (_, cap) in enumerate(disks))
    return OVF.format(files=files, disks=disk_xml, name=name, vcpus=vcpus, memory=memory_mb)


def vmdk_from(raw: Path, out: Path) -> Path:
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o",
                    "subformat=streamOptimized", str(raw), str(out)], check=True)
    return out


def ova(path: Path, descriptor: str, images: Sequence[Path]) -> Path:
    """The archive: `<stem>.ovf` first, then the images under their own names."""
    ovf_file = path.with_suffix(".ovf")
    ovf_file.write_text(descriptor)
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.add(ovf_file, arcname=ovf_file.name)
        for image in images:
            tar.add(image, arcname=image.name)
    ovf_file.unlink()
    return path
