"""A tiny real guest for the development cluster: a Debian kernel and a busybox initramfs.

Both come from Debian packages fetched at run time with `apt-get download` and unpacked
with `dpkg-deb -x` into a work directory, so nothing is installed on the host. The
initramfs (newc cpio, gzip, written here) holds busybox, the kernel modules of a virtio
disk and an /init that prints on the serial console:

    PVC-GUEST-BOOTED <name> <boot id>     once, as soon as userspace runs
    PVC-DISK-PRESENT                      once, if a virtio disk /dev/vda appeared
    pvc-counter N                         every second, N = 0, 1, 2, ...
                                          (or `pvc-tick N` every pvc.tick_ms ms, if given)
    PVC-DISK-WROTE <marker>               once, with `pvc.write=<marker>`: the marker was
                                          written (synced) to the start of /dev/vda
    pvc-disk <text> N                     with `pvc.disk=1`, every second: what the start
                                          of /dev/vda holds, read after dropping the page
                                          cache (so from the disk, wherever it is served),
                                          after N, the counter, was written (synced) at
                                          4 KiB into the disk
    PVC-GUEST-SHUTDOWN <name>             when the ACPI power button is pressed, just
                                          before the guest powers itself off

With `pvc.net=1` the guest uses its NICs (virtio, hot-plugged ones too):
    PVC-NET-NIC <eth> <mac> <uptime>      a NIC appeared; udhcpc asks for a lease on it
    PVC-NET-LEASE <eth> <ip> <router> <dns> <mtu> <event> <uptime>
                                          a lease was bound or renewed and applied
and answers HTTP with its name on port 80 (and the ports of `pvc.http=P1,P2`); with
`pvc.blob=N` it also serves N MiB of zeros as /blob. With
`pvc.probe=KIND:HOST[:PORT],...` (HOST a name, resolved through the DNS server of the
lease, or an address) it tries each target of KIND ping, http (GET /), get (GET /blob)
or meta (GET /latest/meta-data/instance-id) every `pvc.probe_ms` ms (default 200) and
prints
    pvc-probe <probe> <address> ok|fail|noaddr <round> <uptime, seconds>
    pvc-get <probe> <address> <start> <end>  (get: when the download began and ended)
    pvc-meta <probe> <address> <instance-id> (meta: the answer)
A probe of KIND stream pings its target every 50 ms without end, and prints
    pvc-stream <probe> <address> <uptime>    at the first answer, then every second
    pvc-gap <probe> <address> <seconds> <uptime>
                                          answers resumed after a silence of over 0.15 s

The guest's name comes from `pvc.name=<name>` on the kernel command line.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pvc.common.errors import BackendError

KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
# What a virtio disk on a PCI bus needs, and the ACPI power button as an input device
# (graceful shutdown); their dependencies are added from .modinfo.
ROOT_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "button", "evdev")
CMDLINE = "console=ttyS0 quiet panic=-1"
MANIFEST = "guest.json"
APT_TIMEOUT = 600
APT_LISTS = "/var/lib/apt/lists"

INIT_SCRIPT = """#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
name=pvc-guest
tick=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    pvc.name=*) name="${arg#pvc.name=}" ;;
    pvc.tick_ms=*) tick="${arg#pvc.tick_ms=}" ;;
    pvc.write=*) write="${arg#pvc.write=}" ;;
    pvc.disk=*) disk="${arg#pvc.disk=}" ;;
    pvc.net=*) net="${arg#pvc.net=}" ;;
    pvc.http=*) http="${arg#pvc.http=}" ;;
    pvc.probe=*) probe="${arg#pvc.probe=}" ;;
    pvc.probe_ms=*) probe_ms="${arg#pvc.probe_ms=}" ;;
    pvc.blob=*) blob="${arg#pvc.blob=}" ;;
  esac
done
hostname "$name"
echo "PVC-GUEST-BOOTED $name $(cat /proc/sys/kernel/random/boot_id)"
for m in @MODULES@; do insmod "/lib/modules/$m.ko" || echo "pvc-guest: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 20 ]; do
  grep -qs 0x0002 /sys/bus/virtio/devices/*/device || break
  sleep 0.1; i=$((i+1))
done
[ -b /dev/vda ] && echo "PVC-DISK-PRESENT"
if [ -n "$write" ] && [ -b /dev/vda ]; then
  printf 'PVCMARK:%s:END' "$write" | dd of=/dev/vda conv=fsync,notrunc 2>/dev/null \
    && echo "PVC-DISK-WROTE $write"
fi
# graceful shutdown: any event of the ACPI power button powers the guest off. This shell
# opens the device before the counter starts, so a press right after the guest looks
# booted is queued for the reader, not lost while its subshell is still being started.
# The pause lets the serial port send the marker before the power goes.
fd=3
for dev in /sys/class/input/event*; do
  if grep -qs "Power Button" "$dev/device/name" && [ $fd -le 5 ]; then
    eval "exec $fd</dev/input/${dev##*/}"
    ( head -c 1 <&$fd >/dev/null
      echo "PVC-GUEST-SHUTDOWN $name"; sync; sleep 0.2; poweroff -f ) &
    fd=$((fd+1))
  fi
done
if [ "$net" = 1 ]; then
  mkdir -p /etc /var/run /www
  echo "$name" > /www/index.html
  [ -n "$blob" ] && dd if=/dev/zero of=/www/blob bs=1048576 count="$blob" 2>/dev/null
  cat > /bin/pvc-dhcp <<'EOS'
#!/bin/sh
case "$1" in
  bound|renew)
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    [ -n "$dns" ] && echo "nameserver ${dns%% *}" > /etc/resolv.conf
    echo "PVC-NET-LEASE $interface $ip ${router%% *} ${dns%% *} ${mtu:-none} $1" \
      "$(cut -d' ' -f1 /proc/uptime)" > /dev/console
    ;;
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
esac
EOS
  chmod 755 /bin/pvc-dhcp
  ip link set lo up
  for port in 80 $(echo "$http" | tr ',' ' '); do
    httpd -p "$port" -h /www || echo "pvc-guest: httpd on port $port failed"
  done
  ( while true; do
      for d in /sys/class/net/eth*; do
        [ -e "$d" ] || continue
        i=${d##*/}
        [ -e "/var/run/nic.$i" ] && continue
        touch "/var/run/nic.$i"
        ip link set "$i" up
        echo "PVC-NET-NIC $i $(cat "$d/address") $(cut -d' ' -f1 /proc/uptime)"
        udhcpc -b -t 30 -T 1 -i "$i" -s /bin/pvc-dhcp -x "hostname:$name" -O mtu \
          >/dev/null 2>&1 &
      done
      sleep 1
    done ) &
  cat > /bin/pvc-resolve <<'EOS'
#!/bin/sh
case "$1" in
  *[!0-9.]*) nslookup "$1" 2>/dev/null \
               | awk '/^Name:/ {f=1; next} f && /^Address/ {print $NF; exit}' ;;
  *) echo "$1" ;;
esac
EOS
  chmod 755 /bin/pvc-resolve
  rounds=
  for p in $(echo "$probe" | tr ',' ' '); do
    case "$p" in
      stream:*)
        ( host=${p#stream:}; state="/var/run/stream.$host"
          while true; do
            addr=$(pvc-resolve "$host")
            [ -n "$addr" ] && ping -i 0.05 "$addr" 2>/dev/null | awk -v p="$p" -v a="$addr" \
              -v last="$(cat "$state" 2>/dev/null)" -v state="$state" '
              /seq=/ { getline up < "/proc/uptime"; close("/proc/uptime"); split(up, u, " ")
                if (last != "" && u[1] - last > 0.15)
                  printf "pvc-gap %s %s %.2f %s\\n", p, a, u[1] - last, u[1]
                if (n % 20 == 0) printf "pvc-stream %s %s %s\\n", p, a, u[1]
                n++; last = u[1]; fflush() }
              END { if (last != "") print last > state }'
            sleep 0.2
          done ) & ;;
      *) rounds="$rounds $p" ;;
    esac
  done
  if [ -n "$rounds" ]; then
    ( round=0
      while true; do
        for p in $rounds; do
          kind=${p%%:*}; rest=${p#*:}; host=${rest%%:*}; port=${rest#*:}
          [ "$port" = "$rest" ] && port=80
          addr=$(pvc-resolve "$host")
          if [ -z "$addr" ]; then r=noaddr
          elif [ "$kind" = ping ]; then
            if ping -c 1 -W 1 "$addr" >/dev/null 2>&1; then r=ok; else r=fail; fi
          elif [ "$kind" = get ]; then
            start=$(cut -d' ' -f1 /proc/uptime)
            if timeout 120 wget -q -O /dev/null "http://$addr:$port/blob" 2>/dev/null; then
              r=ok; echo "pvc-get $p $addr $start $(cut -d' ' -f1 /proc/uptime)"
            else r=fail; fi
          elif [ "$kind" = meta ]; then
            v=$(timeout 2 wget -q -O - "http://$addr:$port/latest/meta-data/instance-id" \
                2>/dev/null)
            if [ -n "$v" ]; then
              r=ok; echo "pvc-meta $p $addr $v"
            else r=fail; fi
          elif timeout 1 wget -q -O /dev/null "http://$addr:$port/" 2>/dev/null; then r=ok
          else r=fail; fi
          echo "pvc-probe $p ${addr:-none} $r $round $(cut -d' ' -f1 /proc/uptime)"
        done
        round=$((round+1))
        usleep $(( ${probe_ms:-200} * 1000 ))
      done ) &
  fi
fi
n=0
if [ "$tick" -gt 0 ]; then
  while true; do
    echo "pvc-tick $n"
    n=$((n+1))
    usleep $((tick * 1000))
  done
fi
while true; do
  if [ "$disk" = 1 ] && [ -b /dev/vda ]; then
    printf 'PVCTICK:%s:END' "$n" | dd of=/dev/vda bs=4096 seek=1 conv=fsync,notrunc 2>/dev/null
    blockdev --flushbufs /dev/vda; echo 3 > /proc/sys/vm/drop_caches
    text=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 96 | tr -cd 'A-Za-z0-9:._-')
    echo "pvc-disk ${text:-none} $n"
  fi
  echo "pvc-counter $n"
  n=$((n+1))
  sleep 1
done
"""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    kernel_version: str = ""
    cmdline: str = CMDLINE


def _run(cmd: Sequence[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True,
                              timeout=APT_TIMEOUT, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"Building the test guest: {' '.join(cmd)} failed: {exc}") from exc
    if proc.returncode != 0:
        raise BackendError(f"Building the test guest: {' '.join(cmd)} exited with "
                           f"{proc.returncode}:\n{(proc.stdout + proc.stderr).strip()}")
    return proc.stdout


def kernel_package() -> str:
    """The versioned kernel package that `linux-image-cloud-amd64` currently depends on."""
    if os.geteuid() == 0 and not any(Path(APT_LISTS).glob("*_Packages*")):
        _run(["apt-get", "update", "-qq"])  # a fresh machine may have no package lists
    out = _run(["apt-cache", "show", "--no-all-versions", KERNEL_META_PACKAGE])
    match = re.search(r"^Depends:.*?\b(linux-image-[0-9][^\s,()]*-cloud-amd64)\b", out, re.M)
    if not match:
        raise BackendError(f"Cannot find the kernel package that {KERNEL_META_PACKAGE} "
                           f"depends on in:\n{out.strip()}")
    return match.group(1)


def _download(packages: Sequence[str], dest: Path) -> dict[str, Path]:
    _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *packages], cwd=dest)
    found: dict[str, Path] = {}
    for pkg in packages:
        debs = sorted(dest.glob(f"{pkg}_*.deb"))
        if not debs:
            raise BackendError(f"apt-get download left no .deb of {pkg} in {dest}")
        found[pkg] = debs[-1]
    return found


# --- kernel modules -------------------------------------------------------------------


def _modinfo(data: bytes) -> dict[str, str]:
    """The key=value strings of the .modinfo section of an ELF64 kernel module."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise BackendError("Not an ELF64 kernel module")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, offset, size

    _, str_off, _ = section(shstrndx)
    for i in range(shnum):
        name, offset, size = section(i)
        start = str_off + name
        if data[start:data.index(b"\0", start)] == b".modinfo":
            pairs = (s.decode(errors="replace").partition("=")
                     for s in data[offset:offset + size].split(b"\0") if s)
            return {k: v for k, _, v in pairs}
    return {}


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith(".xz") else data


def module_closure(moddir: Path, roots: Sequence[str]) -> list[tuple[str, bytes]]:
    """`roots` and everything they depend on, as (name, .ko bytes), dependencies first."""
    index: dict[str, Path] = {}
    for path in moddir.rglob("*.ko*"):
        index[path.name.split(".ko")[0].replace("-", "_")] = path
    order: list[tuple[str, bytes]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        if name not in index:
            raise BackendError(f"Kernel module {name} is not in {moddir}")
        data = _read_module(index[name])
        for dep in filter(None, _modinfo(data).get("depends", "").split(",")):
            visit(dep.replace("-", "_"))
        order.append((name, data))

    for root in roots:
        visit(root)
    return order


# --- initramfs ------------------------------------------------------------------------


class Cpio:
    """An in-memory newc ("070701") cpio archive."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0),
               ) -> None:
        fields = [self.ino, mode, 0, 0, 2 if mode & 0o170000 == 0o040000 else 1, 0,
                  len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        self.ino += 1
        self.buf.write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self.buf.write(name.encode() + b"\0")
        self._pad()
        self.buf.write(data)
        self._pad()

    def _pad(self) -> None:
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def dir(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, 0o100000 | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, 0o120777, target.encode())

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def initramfs(busybox: bytes, modules: Sequence[tuple[str, bytes]]) -> bytes:
    """The gzip-compressed initramfs of the guest."""
    archive = Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"):
        archive.dir(d)
    archive.chardev("dev/console", 5, 1)
    archive.file("bin/busybox", busybox, 0o755)
    archive.symlink("bin/sh", "busybox")
    for name, data in modules:
        archive.file(f"lib/modules/{name}.ko", data)
    script = INIT_SCRIPT.replace("@MODULES@", " ".join(name for name, _ in modules))
    archive.file("init", script.encode(), 0o755)
    return gzip.compress(archive.finish(), compresslevel=6, mtime=0)


# --- build and cache ------------------------------------------------------------------


def _recipe() -> str:
    text = "\n".join([INIT_SCRIPT, CMDLINE, *ROOT_MODULES, KERNEL_META_PACKAGE, BUSYBOX_PACKAGE])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached(workdir: Path) -> GuestImage | None:
    try:
        meta = json.loads((workdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if meta.get("recipe") != _recipe():
        return None
    image = GuestImage(kernel=workdir / meta["kernel"], initrd=workdir / meta["initrd"],
                       kernel_version=meta["kernel_version"])
    return image if image.kernel.is_file() and image.initrd.is_file() else None


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.replace(path)


def build_guest(workdir: Path) -> GuestImage:
    """Build the guest into `workdir` (kept there: a later call returns it at once)."""
    workdir.mkdir(parents=True, exist_ok=True)
    image = _cached(workdir)
    if image is not None:
        return image
    with open(workdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the others reuse it
        image = _cached(workdir)
        if image is not None:
            return image
        return _build(workdir)


def _build(workdir: Path) -> GuestImage:
    kpkg = kernel_package()
    with tempfile.TemporaryDirectory(prefix="build-", dir=workdir) as tmp:
        scratch = Path(tmp)
        debs = _download([kpkg, BUSYBOX_PACKAGE], scratch)
        for pkg, deb in debs.items():
            _run(["dpkg-deb", "-x", str(deb), str(scratch / pkg)])
        kroot, broot = scratch / kpkg, scratch / BUSYBOX_PACKAGE
        kernels = sorted((kroot / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise BackendError(f"{kpkg} holds no /boot/vmlinuz-*")
        version = kernels[-1].name.removeprefix("vmlinuz-")
        moddir = next((p for p in (kroot / "lib/modules" / version,
                                   kroot / "usr/lib/modules" / version) if p.is_dir()), None)
        if moddir is None:
            raise BackendError(f"{kpkg} holds no modules directory for {version}")
        busybox = next((p for p in (broot / "bin/busybox", broot / "usr/bin/busybox")
                        if p.is_file()), None)
        if busybox is None:
            raise BackendError(f"{BUSYBOX_PACKAGE} holds no busybox binary")
        modules = module_closure(moddir, ROOT_MODULES)
        kernel = workdir / f"vmlinuz-{version}"
        initrd = workdir / f"initrd-{version}-{_recipe()}.gz"
        _write(kernel, kernels[-1].read_bytes())
        _write(initrd, initramfs(busybox.read_bytes(), modules))
    for old in [*workdir.glob("initrd-*.gz"), *workdir.glob("vmlinuz-*")]:
        if old not in (kernel, initrd):
            old.unlink()
    meta = {"recipe": _recipe(), "kernel": kernel.name, "initrd": initrd.name,
            "kernel_version": version, "kernel_package": kpkg,
            "modules": [name for name, _ in modules]}
    _write(workdir / MANIFEST, json.dumps(meta, indent=2).encode())
    return GuestImage(kernel=kernel, initrd=initrd, kernel_version=version)
