"""The installer ISO, built from Debian packages and booted under QEMU (TCG) with UEFI
firmware (OVMF), a blank disk and an answer file on a drive labelled PVCANSWERS: the
unattended install finishes, the machine reboots from its disk by itself (UEFI again,
from the removable path), and the installed system lets the deploy user in with the
answers' SSH key, with sudo and Python for Ansible, on the layout PVC's installer makes.
(The BIOS path, iPXE to the same ISO and the installed disk's BIOS boot, is
tests/installer/test_bootstrap.py's.)

The guest's network is QEMU's user mode (its own, with the SSH port forwarded to a
loopback port of this host): no bridge, namespace or host address is touched.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc.devcluster.layout import default_root
from pvc.isobuild import build
from tests.installer.support import ssh, started, wait_console

pytestmark = pytest.mark.system

FIGURES: dict[str, float] = {}
MAC = "52:54:00:5e:a1:01"
DISK_SIZE = "8G"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")  # Debian's ovmf, not Secure Boot
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")  # copied: each machine its own NVRAM
LIVE_TIMEOUT = 600.0  # ISO boot, live system, install (TCG, 2 cores shared)
BOOT_TIMEOUT = 300.0  # the installed system's boot to SSH


@pytest.fixture(scope="module")
def iso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[build.Built]:
    if os.geteuid() != 0:
        pytest.skip("the ISO build needs root (debootstrap): run `sudo ./pvc-dev test`")
    cache = default_root() / "cache" / "iso"
    out = tmp_path_factory.mktemp("iso") / "pvc-installer.iso"
    first = build.build(out, cache)
    FIGURES["ISO build (" + ("cached system" if first.root_cached else "cold") + ")"] = \
        first.seconds
    again = build.build(out, cache)  # the second build reuses the system
    assert again.root_cached
    if not first.root_cached:
        assert again.seconds < first.seconds
    FIGURES["ISO build (cached system)"] = again.seconds
    FIGURES["ISO size (MiB)"] = again.size / 1024**2
    yield again
    print("\ninstaller ISO figures: " + ", ".join(f"{k} {v:.0f}" for k, v in FIGURES.items()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_drive(path: Path, text: str) -> None:
    """A small FAT image labelled PVCANSWERS with answers.txt (mtools: nothing mounted)."""
    subprocess.run(["truncate", "-s", "4M", str(path)], check=True)
    subprocess.run(["mkfs.vfat", "-n", "PVCANSWERS", str(path)], check=True,
                   capture_output=True)
    src = path.with_suffix(".txt")
    src.write_text(text)
    subprocess.run(["mcopy", "-i", str(path), str(src), "::answers.txt"], check=True)


@contextlib.contextmanager
def qemu(tmp: Path, iso: Path, disk: Path, answers: Path, port: int) -> Iterator[Path]:
    console = tmp / "console.log"
    nvram = tmp / "OVMF_VARS.fd"
    shutil.copyfile(OVMF_VARS, nvram)
    argv = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "1024", "-smp", "1",
            "-display", "none", "-serial", f"file:{console}", "-monitor", "none",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={nvram}",
            # a blank disk first: the firmware falls through to the ISO, and boots the
            # disk once the installer has made it bootable (as a real server's boot order)
            "-drive", f"file={disk},if=none,id=d0,format=qcow2",
            "-device", "virtio-blk-pci,drive=d0,bootindex=1",
            "-drive", f"file={iso},if=none,id=cd,media=cdrom,readonly=on",
            "-device", "ide-cd,drive=cd,bootindex=2",
            "-drive", f"file={answers},if=virtio,format=raw,readonly=on",
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"]
    with started(argv, tmp / "qemu.err"):
        yield console


@contextlib.contextmanager
def checkin_receiver() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """An HTTP server on a loopback port of this host (the guest reaches it as QEMU's
    gateway, 10.0.2.2) that keeps every check-in POSTed to it."""
    got: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got.append({"path": self.path, **json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], got
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(2400)
def test_an_unattended_install_boots_by_itself_and_lets_the_deploy_user_in(
        iso: build.Built, tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy@test",
                    "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), DISK_SIZE],
                   check=True)
    port = free_port()
    with checkin_receiver() as (receiver, checkins):
        drive = tmp_path / "answers.img"
        answers_drive(drive, f"""# the test's node
hostname = hv9.installer.test
disk = detect::8GB:0
interface = {MAC}
address = 10.0.2.15/24
gateway = 10.0.2.2
nameserver = 10.0.2.3
ssh_key = {public}
mirror = http://deb.debian.org/debian
checkin_url = http://10.0.2.2:{receiver}/checkin/host
""")
        started = time.monotonic()
        with qemu(tmp_path, iso.path, disk, drive, port) as console:
            wait_console(console, r"PVC-INSTALL-DONE in \d+ s", LIVE_TIMEOUT,
                         fail=r"PVC-INSTALL-(REFUSED|FAILED).*")
            FIGURES["power-on to installed (s)"] = time.monotonic() - started
            installed = time.monotonic()
            # it reboots into the installed system (GRUB on the serial console, then Debian)
            deadline = time.monotonic() + BOOT_TIMEOUT
            while True:
                done = ssh(key, port, "hostname -f; id -u; sudo -n true && echo sudo-ok; "
                           "python3 -c 'print(1+1)'; findmnt -n -o SOURCE /; "
                           "findmnt -n -o SOURCE /var/lib/ceph; lsblk -n -o NAME /dev/vda; "
                           "sudo -n ls /boot/efi/EFI/BOOT; cat /etc/network/interfaces; "
                           "test -s /etc/machine-id && echo id-ok; "
                           "test -d /sys/firmware/efi && echo uefi-booted; "
                           "dpkg-query -W -f '${Status}' live-boot 2>&1 || true")
                if done.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(3)
            FIGURES["installed to SSH (s)"] = time.monotonic() - installed
            assert done.returncode == 0, (done.stderr,
                                          console.read_text(errors="replace")[-3000:])
            # the installed system's first boot checks in once, then its unit is off
            deadline = time.monotonic() + 120
            while not any(c["stage"] == "booted" for c in checkins) \
                    and time.monotonic() < deadline:
                time.sleep(1)
            enabled = ssh(key, port, "systemctl is-enabled pvc-firstboot-checkin.service")
    out = done.stdout.splitlines()
    assert out[:4] == ["hv9.installer.test", "200", "sudo-ok", "2"], out
    assert out[4] == "/dev/mapper/vgx-root" and out[5] == "/dev/mapper/vgx-ceph", out
    assert {"vda1", "vda2", "vda3", "vda4"} <= {re.sub(r"^\W+", "", n) for n in out}, out
    assert "BOOTX64.EFI" in out, out  # the UEFI loader is there too
    text = "\n".join(out)
    assert re.search(r"iface ens\d+ inet static\n    address 10.0.2.15/24\n"
                     r"    gateway 10.0.2.2", text), text
    assert "id-ok" in text
    assert "uefi-booted" in text  # the firmware booted the disk's removable-path GRUB
    assert "install ok installed" not in text  # live-boot is the live system's only
    # every stage reported, in order, by this node
    assert [c["stage"] for c in checkins] == ["installing", "installed", "rebooting",
                                              "booted"], checkins
    assert {(c["path"], c["hostname"], c["mac"]) for c in checkins} == {
        ("/checkin/host", "hv9.installer.test", MAC)}
    assert enabled.stdout.strip() == "disabled", enabled
