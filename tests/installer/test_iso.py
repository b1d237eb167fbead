"""The installer ISO, built from Debian packages and booted under QEMU (TCG) with UEFI
firmware (OVMF), a blank disk and an answer file on a drive labelled PVCANSWERS: the
unattended install finishes, the machine reboots from its disk by itself (UEFI again,
from the removable path), and the installed system lets the deploy user in with the
answers' SSH key, with sudo and Python for Ansible, on the layout PVC's installer makes.
(The BIOS path, iPXE to the same ISO and the installed disk's BIOS boot, is
tests/installer/test_bootstrap.py's.) The same ISO booted by BIOS from its CD with no
answers asks its questions on the serial console: bad answers are asked again, and
declining, a refused answer file and ^C leave the root shell with the disk untouched.

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
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc.devcluster.layout import default_root
from pvc.isobuild import build
from tests.installer.support import SerialConsole, ssh, started, wait_console
from tests.ports import free_port

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


@pytest.mark.timeout(900)
def test_the_installer_asks_refuses_bad_answers_and_leaves_a_root_shell(
        iso: build.Built, tmp_path: Path) -> None:
    """The same ISO by BIOS from its CD, with nothing to answer from: the installer asks
    on the serial console. Bad answers are asked again, naming what was wrong; declining
    at the summary, an unattended run with a disk that is not there, and ^C all leave
    the root shell, and nothing is written to the disk."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy@test",
                    "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), DISK_SIZE],
                   check=True)
    sock = tmp_path / "serial.sock"
    argv = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "1024", "-smp", "1",
            "-display", "none", "-monitor", "none",
            "-chardev", f"socket,id=ser0,path={sock},server=on,wait=off",
            "-serial", "chardev:ser0",
            "-drive", f"file={disk},if=none,id=d0,format=qcow2",
            "-device", "virtio-blk-pci,drive=d0,bootindex=2",
            "-drive", f"file={iso.path},if=none,id=cd,media=cdrom,readonly=on",
            "-device", "ide-cd,drive=cd,bootindex=1",
            "-netdev", "user,id=n0", "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"]
    with started(argv, tmp_path / "qemu.err"):
        console = SerialConsole(sock, tmp_path / "console.log")
        try:
            answer = conversation(console, public)
        finally:
            console.close()
    # the summary showed the answers given, the defaults taken where none was typed
    assert re.search(r"Hostname:\s+hv8\.installer\.test", answer), answer
    assert re.search(r"/dev/vda \(8\.6 GB\), interface \w+ \(" + MAC + r"\)", answer), answer
    assert "10.0.2.15/24" in answer and "http://deb.debian.org/debian" in answer, answer
    # and nothing was written to the blank disk: no cluster of its image holds data
    mapped = json.loads(subprocess.run(
        ["qemu-img", "map", "--output=json", str(disk)], capture_output=True, text=True,
        check=True).stdout)
    assert not any(extent["data"] for extent in mapped), mapped


def conversation(console: SerialConsole, public: str) -> str:
    """Answer the installer's questions (some wrongly first), decline at its summary, then
    use the root shell it leaves; the summary's text."""
    console.expect(r"Hostname \(fully qualified", LIVE_TIMEOUT)
    console.type("not a host!")
    console.expect(r"is not a fully qualified name.*\n.*Hostname \(fully qualified", 60)
    console.type("hv8.installer.test")
    console.expect(r"Target disk .*\[/dev/vda\]: ", 60)  # the one disk offered
    console.type("/dev/sdz")
    console.expect(r"disk /dev/sdz is not a disk of this machine \(disks: /dev/vda", 60)
    console.expect(r"Target disk .*: ", 60)
    console.type("")
    console.expect(r"Network interface \(name or MAC\) \[\w+\]: ", 60)
    console.type("")
    console.expect(r"VLAN id \(blank for none\): ", 60)
    console.type("5000")
    console.expect(r"vlan '5000' is not a VLAN id from 1 to 4094", 60)
    console.type("")
    console.expect(r"Address with prefix .*\[dhcp\]: ", 60)
    console.type("10.0.2.300/24")
    console.expect(r"address '10\.0\.2\.300/24' is not a host address", 60)
    console.type("10.0.2.15/24")
    console.expect(r"Gateway: ", 60)
    console.type("10.0.2.2")
    console.expect(r"Nameserver \[10\.0\.2\.2\]: ", 60)
    console.type("")
    console.expect(r"Deploy user \[\w+\]: ", 60)
    console.type("")
    console.expect(r"authorized_keys \(blank to paste a key\): ", 60)
    console.type("")
    console.expect(r"SSH public key: ", 60)
    console.type("ssh-ed25519 not-a-key")
    console.expect(r"is not an SSH public key line", 60)
    console.type(public)
    console.expect(r"Debian mirror \[http://deb\.debian\.org/debian\]: ", 60)
    console.type("")
    console.expect(r"Root filesystem \(ext4 or xfs\) \[ext4\]: ", 60)
    console.type("")
    console.expect(r"Extra packages \(blank for none\): ", 60)
    console.type("")
    summary = console.expect(r"The installer will:[\s\S]*Erase /dev/vda and install\? "
                             r"\[y/N\]: ", 60).group(0)
    console.type("n")
    console.expect(r"Nothing was done\. /install\.sh starts the installer again\.", 60)
    # the root shell that is left
    console.type("echo shell-$((6*7)) $(id -u)")
    console.expect(r"shell-42 0", 60)
    # unattended answers naming a disk that is not there: refused, exit 2
    console.type(f"printf 'hostname = hv8.installer.test\\ndisk = /dev/sdz\\n"
                 f"interface = {MAC}\\nssh_key = {public}\\n' > /tmp/bad.txt; "
                 "/install.sh --answers /tmp/bad.txt; echo exit-$?")
    console.expect(r"PVC-INSTALL-REFUSED: disk /dev/sdz is not a disk of this machine", 120)
    console.expect(r"Nothing was written to any disk\.", 60)
    console.expect(r"exit-2", 60)
    # ^C in the middle of the questions stops the installer; /install.sh starts it again
    console.type("/install.sh")
    console.expect(r"Hostname \(fully qualified", 120)
    console.send(b"\x03")
    console.expect(r"Installer stopped\. /install\.sh starts it again\.", 60)
    console.type("echo back-$((40+2))")
    console.expect(r"back-42", 60)
    return summary
