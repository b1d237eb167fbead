"""debootstrap: Debian 12 ("bookworm") with cloud-init, installed onto the VM's disks.

The storage template needs a disk mounted at / with an ext2/3/4 filesystem; other disks
with a filesystem and mountpoint (/var, /home...) are mounted there too and written to
the VM's fstab. The VM boots from its root disk with EXTLINUX, installed into the root
filesystem itself (the disk needs no partition table), with its console on the serial
port. cloud-init reads the VM's meta-data and user-data from PVC's metadata service
(http://169.254.169.254, an EC2 data source) on its first boot.

Script arguments (all optional):
    release=bookworm                  the Debian release
    mirror=http://deb.debian.org/debian
    tarball=PATH                      a `debootstrap --make-tarball` of PACKAGES (and
                                      `packages`) on the node: no mirror needed
    packages=a,b                      more packages to install
"""

import os
import shutil
from typing import Any

from pvc.provisioner import VMBuilder

PACKAGES = ("linux-image-cloud-amd64,systemd-sysv,udev,cloud-init,ifupdown,isc-dhcp-client,"
            "netbase,iproute2,python3-cffi-backend,extlinux")
ROOT_FILESYSTEMS = ("ext2", "ext3", "ext4")
CLOUD_CFG = """\
# written by PVC's debootstrap script
datasource_list: [Ec2, None]
datasource:
  Ec2:
    metadata_urls: ["http://169.254.169.254"]
    strict_id: false
    timeout: 10
    max_wait: 120
locale: C.UTF-8
"""
INTERFACES = """\
# written by PVC's debootstrap script; cloud-init adds the VM's NICs
auto lo
iface lo inet loopback

source /etc/network/interfaces.d/*
"""


class VMBuilderScript(VMBuilder):
    def setup(self) -> None:
        if shutil.which("debootstrap") is None:
            raise RuntimeError(f"debootstrap is not installed on node {self.runtime.node}")
        roots = [d for d in self.volumes() if d.get("mountpoint") == "/"]
        if len(roots) != 1:
            raise ValueError("The storage template needs exactly one disk mounted at /")
        if roots[0].get("filesystem") not in ROOT_FILESYSTEMS:
            raise ValueError("The root disk needs an ext2, ext3 or ext4 filesystem (EXTLINUX "
                             "boots from it)")
        self.root_disk = roots[0]

    def create(self) -> str:
        return self.domain_xml()

    def prepare(self) -> None:
        self.create_volumes()
        self.make_filesystems()
        self.mount_volumes()

    def install(self) -> None:
        args = self.vm_data["script_arguments"]
        release = args.get("release", "bookworm")
        packages = PACKAGES + ("," + args["packages"] if args.get("packages") else "")
        cmd = ["debootstrap", "--variant=minbase", f"--include={packages}"]
        if args.get("tarball"):
            cmd.append(f"--unpack-tarball={args['tarball']}")
        cmd += [release, str(self.target), args.get("mirror", "http://deb.debian.org/debian")]
        self.report(f"Installing Debian {release} with debootstrap")
        self.run(cmd, timeout=3600)
        self.report("Configuring the system")
        etc = self.target / "etc"
        (etc / "hostname").write_text(f"{self.vm_name}\n")
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {self.vm_name}\n")
        (etc / "fstab").write_text(self.fstab())
        (etc / "network" / "interfaces").write_text(INTERFACES)
        (etc / "network" / "interfaces.d").mkdir(exist_ok=True)
        (etc / "cloud" / "cloud.cfg.d" / "99-pvc.cfg").write_text(CLOUD_CFG)
        self.install_bootloader()

    def uuid_of(self, disk: dict[str, Any]) -> str:
        dev = self.map_volume(str(disk["pool"]), self.volume_name(disk))
        return self.run(["blkid", "-s", "UUID", "-o", "value", str(dev)]).strip()

    def fstab(self) -> str:
        lines = ["# written by PVC's debootstrap script"]
        for disk in self.volumes():
            fs, where = disk.get("filesystem"), disk.get("mountpoint")
            if fs == "swap":
                lines.append(f"UUID={self.uuid_of(disk)} none swap sw 0 0")
            elif fs and where:
                passno = 1 if where == "/" else 2
                lines.append(f"UUID={self.uuid_of(disk)} {where} {fs} defaults {0} {passno}")
        return "\n".join(lines) + "\n"

    def install_bootloader(self) -> None:
        root = f"UUID={self.uuid_of(self.root_disk)}"
        boot = self.target / "boot" / "extlinux"
        boot.mkdir(parents=True, exist_ok=True)
        # the kernel's own files, not Debian's symlinks to them at /
        kernel = "/" + os.readlink(self.target / "vmlinuz").lstrip("/")
        initrd = "/" + os.readlink(self.target / "initrd.img").lstrip("/")
        (boot / "extlinux.conf").write_text(
            "DEFAULT debian\nTIMEOUT 1\nPROMPT 0\nLABEL debian\n"
            f"  LINUX {kernel}\n  INITRD {initrd}\n"
            f"  APPEND root={root} ro console=ttyS0,115200 net.ifnames=0\n")
        self.report("Installing EXTLINUX")
        self.run(["extlinux", "--install", "/boot/extlinux"], chroot=True)

    def cleanup(self) -> None:
        self.unmount_volumes()
