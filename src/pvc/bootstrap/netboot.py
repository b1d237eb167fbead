"""The bootstrap network's services: dnsmasq (DHCP for the BMCs and the nodes, TFTP of
iPXE) and what iPXE and the installer fetch over HTTP from the daemon.

The chain: a node's firmware asks DHCP and gets iPXE over TFTP (`undionly.kpxe` for BIOS,
`ipxe.efi` for UEFI; a NIC whose ROM is iPXE already skips this); iPXE asks DHCP again
and is told to fetch `boot.ipxe` from the daemon, which chains to the script for its MAC:
the installer's kernel and live initrd, with live-boot fetching the whole installer ISO
into memory (`fetch=`: the same image, with the same two layers, as a CD boot) and the
installer reading its answers from the daemon. A MAC that is not to be installed now
gets a script that leaves iPXE, so the machine boots its disk.

dnsmasq's lease hook POSTs each lease to the daemon (`/checkin/dnsmasq`): that is how the
daemon sees a BMC or a node appear.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pvc.common import procs
from pvc.common.errors import BackendError, InvalidArgument
from pvc.installer import answers as installer_answers

DNSMASQ = "/usr/sbin/dnsmasq"
IPXE_FILES = {"undionly.kpxe": Path("/usr/lib/ipxe/undionly.kpxe"),
              "ipxe.efi": Path("/usr/lib/ipxe/ipxe.efi")}
LEASE_TIME = "1h"
NETBOOT_FILES = ("vmlinuz", "initrd.img")  # from the ISO's live/
ISO_NAME = "pvc-installer.iso"
KERNEL_ARGS = "boot=live components ip=dhcp console=tty0 console=ttyS0,115200n8"


@dataclass(frozen=True)
class Network:
    """The bootstrap network, as the daemon's settings give it."""

    interface: str
    address: ipaddress.IPv4Interface  # the daemon's own, on `interface`
    dhcp_start: ipaddress.IPv4Address
    dhcp_end: ipaddress.IPv4Address
    gateway: ipaddress.IPv4Address | None = None  # given to DHCP clients (NAT out)
    nameservers: tuple[ipaddress.IPv4Address, ...] = ()

    def __post_init__(self) -> None:
        net = self.address.network
        for what, ip in (("dhcp start", self.dhcp_start), ("dhcp end", self.dhcp_end)):
            if ip not in net:
                raise InvalidArgument(f"bootstrap network {what} {ip} is not in {net}")
        if self.dhcp_end < self.dhcp_start:
            raise InvalidArgument(f"bootstrap network dhcp range {self.dhcp_start}-"
                                  f"{self.dhcp_end} is empty")
        if self.dhcp_start <= self.address.ip <= self.dhcp_end:
            raise InvalidArgument(f"bootstrap network address {self.address.ip} is inside "
                                  "its own DHCP range")


def dnsmasq_command(net: Network, workdir: Path, tftp_root: Path, hook: Path,
                    http_base: str) -> list[str]:
    """dnsmasq's command line (no configuration file; every value checked)."""
    iface = installer_answers.interface(net.interface)
    args = [
        DNSMASQ, "--conf-file=/dev/null", "--keep-in-foreground", "--user=root",
        "--port=0",  # no DNS: the nodes use the network's own name servers
        "--bind-interfaces", f"--interface={iface}", "--except-interface=lo",
        f"--pid-file={workdir / 'dnsmasq.pid'}",
        f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}",
        f"--dhcp-script={hook}",
        f"--log-facility={workdir / 'dnsmasq.log'}", "--log-dhcp",
        f"--dhcp-range={net.dhcp_start},{net.dhcp_end},{net.address.netmask},{LEASE_TIME}",
        "--dhcp-authoritative",
        "--enable-tftp", f"--tftp-root={tftp_root}", "--tftp-secure",
        # iPXE says so with option 175; its firmware kind by the client architecture
        "--dhcp-match=set:ipxe,175",
        "--dhcp-match=set:efi64,option:client-arch,7",
        "--dhcp-match=set:efi64,option:client-arch,9",
        f"--dhcp-boot=tag:ipxe,{http_base}/boot.ipxe",
        "--dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi",
        "--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe",
    ]
    if net.gateway is not None:
        args.append(f"--dhcp-option=option:router,{net.gateway}")
    else:
        args.append("--dhcp-option=option:router")  # none: not this host
    if net.nameservers:
        args.append("--dhcp-option=option:dns-server," + ",".join(map(str, net.nameservers)))
    return args


def hook_script(url: str) -> str:
    """dnsmasq's lease hook: posts `add|old|del MAC IP` to the daemon (as query
    parameters; the name a client gives itself is not passed on)."""
    return ("#!/bin/sh\n"
            "# pvcbootstrapd's lease hook: dnsmasq runs it with ACTION MAC IP [HOSTNAME]\n"
            'case "$1" in add|old|del) ;; *) exit 0 ;; esac\n'
            f'exec curl -fsS -m 5 -o /dev/null -X POST -G "{url}" '
            '--data-urlencode "action=$1" --data-urlencode "mac=$2" '
            '--data-urlencode "ip=$3"\n')


class Dnsmasq(procs.Child):
    """The bootstrap network's dnsmasq, a child of the daemon."""

    def __init__(self, net: Network, workdir: Path, tftp_root: Path, http_base: str,
                 checkin_url: str) -> None:
        self.net, self.workdir, self.tftp_root = net, workdir, tftp_root
        self.http_base, self.checkin_url = http_base, checkin_url

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tftp_root.mkdir(parents=True, exist_ok=True)
        self.stop_stale()
        for name, source in IPXE_FILES.items():
            if source.exists():
                shutil.copyfile(source, self.tftp_root / name)
        hook = self.workdir / "lease-hook"
        hook.write_text(hook_script(self.checkin_url))
        hook.chmod(0o755)
        self.spawn(dnsmasq_command(self.net, self.workdir, self.tftp_root, hook,
                                   self.http_base),
                   self.workdir / "dnsmasq.out", "the bootstrap network's dnsmasq")


    def stop_stale(self) -> None:
        """Stop the dnsmasq a daemon that was killed left running (dnsmasq changes its
        capabilities, which clears the parent-death signal): the one whose pid file is
        ours and whose command line names that pid file."""
        pid_file = self.workdir / "dnsmasq.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if f"--pid-file={pid_file}".encode() not in cmdline:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)


def extract_netboot(iso: Path, dest: Path) -> None:
    """The installer's kernel and live initrd out of the ISO, and the ISO itself (which
    live-boot fetches), into `dest` (what the daemon serves under /netboot/)."""
    if not iso.is_file():
        raise InvalidArgument(f"installer ISO {iso} does not exist (build it with "
                              "deploy/installer/buildiso.sh)")
    dest.mkdir(parents=True, exist_ok=True)
    for name in NETBOOT_FILES:
        target = dest / name
        target.unlink(missing_ok=True)
        run = subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract",
                              f"/live/{name}", str(target)], capture_output=True, text=True,
                             check=False)
        if run.returncode != 0 or not target.is_file():
            raise BackendError(f"Cannot extract live/{name} from {iso}: "
                               f"{run.stderr.strip()[-500:]}")
        target.chmod(0o644)
    link = dest / ISO_NAME
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(iso.resolve())


def boot_script(http_base: str, mac: str, kernel_options: tuple[str, ...] = ()) -> str:
    """The iPXE script that installs the node with this NIC MAC."""
    args = " ".join((KERNEL_ARGS, f"fetch={http_base}/netboot/{ISO_NAME}",
                     f"pvcinstall.answers={http_base}/answers/{mac}", *kernel_options))
    return ("#!ipxe\n"
            f"echo PVC bootstrap: installing the node with NIC {mac}\n"
            f"kernel {http_base}/netboot/vmlinuz initrd=initrd.img {args}\n"
            f"initrd {http_base}/netboot/initrd.img\n"
            "boot\n")


def local_boot_script(reason: str) -> str:
    """The iPXE script that leaves iPXE, so the firmware boots the next device (the disk)."""
    safe = "".join(c for c in reason if c.isalnum() or c in " .,:-/")[:120]
    return f"#!ipxe\necho PVC bootstrap: {safe}; booting from disk\nexit 1\n"


CHAIN_SCRIPT = "#!ipxe\nchain {base}/boot/${{net0/mac}} || exit 1\n"
