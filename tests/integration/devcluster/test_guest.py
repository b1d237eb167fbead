"""The tiny test guest: its libvirt XML (pure), its initramfs layout (pure), and a real
build from Debian packages booted under plain QEMU (TCG), whose serial console must show
the boot marker, the virtio disk and a counter that advances."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc.common.errors import BackendError, InvalidArgument
from pvc.devcluster.guest import image as guest
from pvc.devcluster.guest.image import GuestImage, build_guest
from pvc.devcluster.guest.xml import Disk, domain_xml, libvirtd_conf_extra, qemu_conf_overrides

QEMU = "qemu-system-x86_64"
UUID = "0b6c7e0e-5f57-4c57-9d0e-3f1f4f1f0a01"
IMAGE = GuestImage(kernel=Path("/srv/g/vmlinuz"), initrd=Path("/srv/g/initrd.gz"))


# --- domain XML -----------------------------------------------------------------------


def test_domain_xml_elements() -> None:
    text = domain_xml("vm-1", UUID, 128, 2, IMAGE, Path("/var/log/libvirt/vm-1.log"),
                      [Disk("/srv/g/disk.img"), Disk("rbd/vm-1_disk0", target="vdb",
                                                      kind="rbd", hosts=("10.0.0.1:6789",))])
    dom = ET.fromstring(text)
    assert dom.tag == "domain" and dom.get("type") == "qemu"
    assert dom.findtext("name") == "vm-1" and dom.findtext("uuid") == UUID
    assert dom.find("memory").get("unit") == "MiB" and dom.findtext("memory") == "128"
    assert dom.findtext("vcpu") == "2"
    assert dom.findtext("os/kernel") == "/srv/g/vmlinuz"
    assert dom.findtext("os/initrd") == "/srv/g/initrd.gz"
    assert "console=ttyS0" in dom.findtext("os/cmdline") and "pvc.name=vm-1" in dom.findtext(
        "os/cmdline")
    topo = dom.find("cpu/topology")
    assert topo is not None and topo.get("sockets") == "1" and topo.get("cores") == "2"
    assert dom.find("cpu").get("mode") == "custom"
    log = dom.find("devices/serial[@type='pty']/log")
    assert log is not None and log.get("file") == "/var/log/libvirt/vm-1.log"
    assert log.get("append") == "off"
    assert dom.find("devices/console[@type='pty']/target").get("type") == "serial"
    assert dom.find("devices/graphics") is None and dom.find("devices/interface") is None
    disks = dom.findall("devices/disk")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb"]
    assert disks[0].find("source").get("file") == "/srv/g/disk.img"
    assert disks[1].get("type") == "network"
    rbd = disks[1].find("source")
    assert rbd.get("protocol") == "rbd" and rbd.get("name") == "rbd/vm-1_disk0"
    assert rbd.find("host").get("name") == "10.0.0.1" and rbd.find("host").get("port") == "6789"


def test_domain_xml_minimal_has_no_log_or_disks() -> None:
    dom = ET.fromstring(domain_xml("g", UUID, 96, 1, IMAGE))
    assert dom.find("devices/serial/log") is None
    assert dom.find("devices/disk") is None


@pytest.mark.parametrize("kwargs", [
    {"name": "bad name"}, {"name": "x'><evil/>"}, {"name": ""}, {"uuid": "nope"},
    {"memory_mib": 16}, {"vcpus": 0}, {"console_log": Path("rel.log")},
    {"disks": [Disk("relative.img")]}, {"disks": [Disk("/a", target="sda")]},
    {"disks": [Disk("/a"), Disk("/b")]}, {"disks": [Disk("no-pool", kind="rbd")]},
])
def test_domain_xml_rejects_bad_input(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"name": "g", "uuid": UUID, "memory_mib": 128, "vcpus": 1,
                               "image": IMAGE, **kwargs}
    with pytest.raises(InvalidArgument):
        domain_xml(**args)  # type: ignore[arg-type]


def test_libvirt_settings() -> None:
    conf = qemu_conf_overrides("10.77.1.2")
    assert 'user = "root"' in conf and "dynamic_ownership = 0" in conf
    assert 'migration_address = "10.77.1.2"' in conf
    assert "migration_address" not in qemu_conf_overrides()
    assert all(line.startswith("#") or "=" in line
               for line in (conf + libvirtd_conf_extra()).splitlines() if line)


# --- initramfs layout -----------------------------------------------------------------


def _cpio_entries(data: bytes) -> dict[str, tuple[int, bytes]]:
    entries: dict[str, tuple[int, bytes]] = {}
    pos = 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        if name == "TRAILER!!!":
            return entries
        entries[name] = (mode, data[pos:pos + size])
        pos += size + (-size % 4)


def test_initramfs_layout() -> None:
    data = gzip.decompress(guest.initramfs(b"BUSYBOX", [("virtio", b"A"), ("virtio_blk", b"B")]))
    entries = _cpio_entries(data)
    assert entries["bin/busybox"] == (0o100755, b"BUSYBOX")
    assert entries["bin/sh"] == (0o120777, b"busybox")
    assert entries["dev/console"][0] == 0o020600
    assert entries["lib/modules/virtio_blk.ko"][1] == b"B"
    mode, init = entries["init"]
    assert mode == 0o100755 and init.startswith(b"#!/bin/sh\n")
    assert b"for m in virtio virtio_blk;" in init and b"PVC-GUEST-BOOTED" in init


# --- a real guest ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def guest_image(tmp_path_factory: pytest.TempPathFactory) -> GuestImage:
    if os.geteuid() != 0:
        pytest.skip("building and booting the test guest needs root (./pvc-dev test)")
    for tool in (QEMU, "apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (./pvc-dev test installs it)")
    return build_guest(tmp_path_factory.mktemp("guest"))


def test_build_is_cached(guest_image: GuestImage) -> None:
    workdir = guest_image.kernel.parent
    started = time.monotonic()
    again = build_guest(workdir)
    assert time.monotonic() - started < 0.5
    assert again == guest_image
    assert guest_image.kernel.stat().st_size > 1_000_000
    assert guest_image.initrd.read_bytes()[:2] == b"\x1f\x8b"


def test_apt_failure_is_a_backend_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        guest_image: GuestImage) -> None:
    monkeypatch.setattr(guest, "KERNEL_META_PACKAGE", "pvc-no-such-package")
    with pytest.raises(BackendError, match="pvc-no-such-package"):
        guest.kernel_package()
    with pytest.raises(BackendError, match="apt-get download"):
        guest._download(["pvc-no-such-package"], tmp_path)


@pytest.fixture
def booted(guest_image: GuestImage, tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as fh:
        fh.truncate(4 << 20)
    serial = tmp_path / "serial.log"
    proc = subprocess.Popen(
        [QEMU, "-machine", "pc,accel=tcg", "-cpu", "qemu64", "-m", "128", "-nodefaults",
         "-display", "none", "-no-reboot", "-kernel", str(guest_image.kernel),
         "-initrd", str(guest_image.initrd),
         "-append", f"{guest_image.cmdline} pvc.name=itest",
         "-drive", f"file={disk},format=raw,if=virtio", "-serial", f"file:{serial}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield serial
    finally:
        proc.kill()
        out = proc.communicate()[0]
        if proc.returncode not in (0, -9):
            print(out.decode(errors="replace"))


def _wait_for(path: Path, pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        matches = list(re.finditer(pattern, text, re.M))
        if matches:
            return matches[-1]
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} on the serial console within {timeout} s:\n{text}")


def test_guest_boots_and_counts(booted: Path) -> None:
    started = time.monotonic()
    marker = _wait_for(booted, r"^PVC-GUEST-BOOTED itest ([0-9a-f-]{36})\r?$", 20)
    boot_time = time.monotonic() - started
    first = int(_wait_for(booted, r"^pvc-counter (\d+)\r?$", 10).group(1))
    _wait_for(booted, rf"^pvc-counter {first + 2}\r?$", 10)
    text = booted.read_text(errors="replace")
    assert "PVC-DISK-PRESENT" in text, text
    assert "failed" not in text, text
    assert text.count(marker.group(0)) == 1
    print(f"guest boot marker after {boot_time:.2f} s")
