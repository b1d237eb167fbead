"""ova: deploy an imported OVA (`pvc provisioner ova upload`): each of its disk images is
converted to raw into a new volume of the VM (`<vm>_<disk id>`, as large as the OVF says
the disk is). The provisioner runs this script for OVA profiles that name no script.

Script arguments (optional):
    bus=virtio                  the disks as vda, vdb... on virtio-blk (default: sda,
                                sdb... on virtio-scsi, as PVC)
    kernel=PATH, initrd=PATH, cmdline=TEXT   as for noop
"""

from typing import Any

from pvc.provisioner import VMBuilder


class VMBuilderScript(VMBuilder):
    def setup(self) -> None:
        ova = self.vm_data.get("ova_details")
        if not ova:
            raise ValueError("This script deploys OVA profiles: the profile names no OVA")
        virtio = self.vm_data["script_arguments"].get("bus") == "virtio"
        self.disks: list[tuple[dict[str, Any], str]] = [
            (image, ("vd" + str(image["disk_id"])[2:]) if virtio else str(image["disk_id"]))
            for image in ova["volumes"]]
        # the VM's disks are the OVA's, whatever a storage template says
        self.vm_data["volumes"] = [
            {"pool": image["pool"], "disk_id": disk_id,
             "disk_size_gb": int(image["disk_size_gb"])} for image, disk_id in self.disks]

    def prepare(self) -> None:
        self.create_volumes()
        for image, disk_id in self.disks:
            pool = str(image["pool"])
            source = self.map_volume(pool, str(image["volume_name"]))
            target = self.map_volume(pool, f"{self.vm_name}_{disk_id}")
            self.report(f"Converting {image['volume_name']} ({image['volume_format']}) "
                        f"to raw into disk {disk_id}")
            self.run(["qemu-img", "convert", "-n", "-f", str(image["volume_format"]),
                      "-O", "raw", str(source), str(target)])
