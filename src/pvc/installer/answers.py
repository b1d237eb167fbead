"""The installer's answers: what it asks an operator, or reads from an answer file.

An answer file is plain text, one `key = value` per line; blank lines and lines starting
with `#` are ignored; `ssh_key` and `package` may be given more than once. For example:

    hostname = hv1.example.net
    disk = /dev/sda                  # or detect:<model>:<size>:<index>
    interface = eno1                 # or the NIC's MAC address
    vlan = 100                       # optional
    address = 10.0.0.11/24           # or dhcp
    gateway = 10.0.0.1
    nameserver = 10.0.0.1
    ssh_key = ssh-ed25519 AAAA... admin@example.net
    mirror = http://deb.debian.org/debian

Every error names the line (in a file) and the key, and nothing is written to a disk
before all answers are good.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from pvc.common.errors import InvalidArgument

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

RELEASE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_USER = "deploy"
FILESYSTEMS = ("ext4", "xfs")

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
FQDN = re.compile(rf"{_LABEL}(\.{_LABEL})+")
NIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}")
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
DISK_PATH = re.compile(r"/dev/[A-Za-z0-9][A-Za-z0-9._/:-]{0,200}")
DETECT = re.compile(r"detect:(?P<model>[^:]*):(?P<size>[^:]*):(?P<index>\d{1,3})")
SIZE = re.compile(r"(?P<number>\d+(\.\d+)?)\s*(?P<unit>[KMGTP]?)(i?B)?", re.IGNORECASE)
USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{1,100}")
SSH_KEY = re.compile(
    r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) "
    r"[A-Za-z0-9+/]{16,}={0,3}( [^\n\r]{0,200})?")
URL = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%/+-]*)?")

REPEATED = {"ssh_key", "package", "nameserver"}
KNOWN = {"hostname", "disk", "interface", "vlan", "address", "gateway", "deploy_user",
         "ssh_keys_url", "mirror", "filesystem", "checkin_url"} | REPEATED


class AnswerError(InvalidArgument):
    """An answer that cannot be used; the message names the key (and the line)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key or message.split(" ", 1)[0]


@dataclass(frozen=True)
class DiskChoice:
    """A target disk: a device path, or a rule that picks one from the machine's disks
    (`detect:<model>:<size>:<index>`: the index-th, from 0, of the whole disks whose model
    contains `model` and whose size is within 10 % of `size`; either may be empty)."""

    path: str = ""
    model: str = ""
    size_bytes: int | None = None
    index: int = 0

    def __str__(self) -> str:
        if self.path:
            return self.path
        size = ""
        if self.size_bytes is not None:
            unit = next(u for u in "PTGMK " if self.size_bytes % 1000 ** " KMGTP".index(u) == 0)
            size = f"{self.size_bytes // 1000 ** ' KMGTP'.index(unit)}{unit.strip()}B"
        return f"detect:{self.model}:{size}:{self.index}"


@dataclass(frozen=True)
class Answers:
    hostname: str
    disk: DiskChoice
    interface: str  # a NIC name, or its MAC address (lower case)
    address: IPInterface | None  # None: DHCP
    gateway: IPAddress | None = None
    vlan: int | None = None
    nameservers: tuple[IPAddress, ...] = ()
    deploy_user: str = DEFAULT_USER
    ssh_keys: tuple[str, ...] = ()
    ssh_keys_url: str = ""
    mirror: str = DEFAULT_MIRROR
    filesystem: Literal["ext4", "xfs"] = "ext4"
    packages: tuple[str, ...] = ()
    checkin_url: str = ""

    @property
    def short_hostname(self) -> str:
        return self.hostname.split(".", 1)[0]

    @property
    def domain(self) -> str:
        return self.hostname.split(".", 1)[1]

    def summary(self) -> list[tuple[str, str]]:
        """What will be done, as the installer shows it before it writes anything."""
        return [
            ("Hostname", self.hostname),
            ("Target disk (erased)", str(self.disk)),
            ("Filesystem", self.filesystem),
            ("Interface", self.interface + (f", VLAN {self.vlan}" if self.vlan else "")),
            ("Address", "DHCP" if self.address is None else str(self.address)),
            ("Gateway", "" if self.gateway is None else str(self.gateway)),
            ("Nameservers", ", ".join(map(str, self.nameservers))),
            ("Deploy user", self.deploy_user),
            ("SSH keys", f"{len(self.ssh_keys)} given" + (
                f", and those at {self.ssh_keys_url}" if self.ssh_keys_url else "")),
            ("Debian mirror", f"{self.mirror} ({RELEASE})"),
            ("Extra packages", " ".join(self.packages)),
        ]


# -- one value at a time (the interactive questions use these too) --------------------

def hostname(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if len(name) > 253 or not FQDN.fullmatch(name):
        raise AnswerError(f"hostname {value!r} is not a fully qualified name "
                          "(e.g. hv1.example.net)")
    return name


def disk(value: str) -> DiskChoice:
    text = value.strip()
    if text.startswith("detect:"):
        m = DETECT.fullmatch(text)
        if not m:
            raise AnswerError(f"disk {value!r}: a detect rule is detect:<model>:<size>:<index> "
                              "(e.g. detect:INTEL:800GB:0)")
        size = None
        if m["size"]:
            size = size_bytes(m["size"])
            if size is None:
                raise AnswerError(f"disk {value!r}: size {m['size']!r} is not a size "
                                  "(e.g. 800GB, 1.8T)")
        return DiskChoice(model=m["model"], size_bytes=size, index=int(m["index"]))
    if not DISK_PATH.fullmatch(text) or ".." in text.split("/"):
        raise AnswerError(f"disk {value!r} is neither a device path under /dev nor a "
                          "detect: rule")
    return DiskChoice(path=text)


def size_bytes(text: str) -> int | None:
    """`800GB`, `1.8T`, `512G`, `100` (bytes): decimal units, as disks are sold."""
    m = SIZE.fullmatch(text.strip())
    if not m:
        return None
    power = " KMGTP".index(m["unit"].upper() or " ")
    return int(float(m["number"]) * 1000 ** power)


def interface(value: str) -> str:
    text = value.strip()
    if MAC.fullmatch(text.lower()):
        return text.lower()
    if not NIC.fullmatch(text) or text in (".", ".."):
        raise AnswerError(f"interface {value!r} is neither an interface name nor a MAC "
                          "address")
    return text


def vlan(value: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 4094:
        raise AnswerError(f"vlan {value!r} is not a VLAN id from 1 to 4094")
    return int(text)


def address(value: str) -> IPInterface | None:
    text = value.strip()
    if text.lower() in ("", "dhcp"):
        return None
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        iface = None
    if iface is None or "/" not in text or (
            iface.ip == iface.network.network_address and iface.network.num_addresses > 2):
        raise AnswerError(f"address {value!r} is not a host address with its prefix "
                          "(e.g. 10.0.0.11/24), nor dhcp")
    return iface


def ip(key: str, value: str) -> IPAddress:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise AnswerError(f"{key} {value!r} is not an IP address") from None


def deploy_user(value: str) -> str:
    name = value.strip() or DEFAULT_USER
    if not USER.fullmatch(name) or name == "root":
        raise AnswerError(f"deploy_user {value!r} is not a user name (lower-case letters, "
                          "digits, _ and -; not root)")
    return name


def ssh_key(value: str) -> str:
    text = value.strip()
    if not SSH_KEY.fullmatch(text):
        raise AnswerError(f"ssh_key {text[:40]!r}... is not an SSH public key line "
                          "(e.g. ssh-ed25519 AAAA... user@host)")
    return text


def url(key: str, value: str) -> str:
    text = value.strip().rstrip("/") if key == "mirror" else value.strip()
    if not URL.fullmatch(text):
        raise AnswerError(f"{key} {value!r} is not an http:// or https:// URL")
    return text


def filesystem(value: str) -> Literal["ext4", "xfs"]:
    text = value.strip() or "ext4"
    if text == "ext4":
        return "ext4"
    if text == "xfs":
        return "xfs"
    raise AnswerError(f"filesystem {value!r} is not one of {', '.join(FILESYSTEMS)}")


def package(value: str) -> str:
    text = value.strip()
    if not PACKAGE.fullmatch(text):
        raise AnswerError(f"package {value!r} is not a Debian package name")
    return text


# -- a whole set ------------------------------------------------------------------------

def build(values: dict[str, list[str]]) -> Answers:
    """Answers from raw values (key -> the values given, in order); AnswerError names the
    first bad or missing one."""
    for key, given in values.items():
        if key not in KNOWN:
            raise AnswerError(f"unknown key {key!r} (known: {', '.join(sorted(KNOWN))})",
                              key)
        if len(given) > 1 and key not in REPEATED:
            raise AnswerError(f"{key} is given {len(given)} times")
    for key in ("hostname", "disk", "interface"):
        if not "".join(values.get(key, [])).strip():
            raise AnswerError(f"{key} is missing")

    def one(key: str, default: str = "") -> str:
        return (values.get(key) or [default])[0]

    addr = address(one("address", "dhcp"))
    gateway = ip("gateway", one("gateway")) if one("gateway").strip() else None
    if addr is not None and gateway is not None:
        if gateway.version != addr.version or gateway not in addr.network:
            raise AnswerError(f"gateway {gateway} is not in {addr.network}")
        if gateway == addr.ip:
            raise AnswerError(f"gateway {gateway} is the node's own address")
    if addr is None and gateway is not None:
        raise AnswerError("gateway is only for a static address (DHCP gives its own)",
                          "gateway")
    keys = tuple(ssh_key(k) for k in values.get("ssh_key", []) if k.strip())
    keys_url = url("ssh_keys_url", one("ssh_keys_url")) if one("ssh_keys_url").strip() else ""
    if not keys and not keys_url:
        raise AnswerError("ssh_key or ssh_keys_url is missing: the deploy user logs in with "
                          "a key only", "ssh_key")
    return Answers(
        hostname=hostname(one("hostname")),
        disk=disk(one("disk")),
        interface=interface(one("interface")),
        vlan=vlan(one("vlan")),
        address=addr,
        gateway=gateway,
        nameservers=tuple(ip("nameserver", n) for n in values.get("nameserver", [])
                          if n.strip()),
        deploy_user=deploy_user(one("deploy_user")),
        ssh_keys=keys,
        ssh_keys_url=keys_url,
        mirror=url("mirror", one("mirror", DEFAULT_MIRROR) or DEFAULT_MIRROR),
        filesystem=filesystem(one("filesystem")),
        packages=tuple(package(p) for p in values.get("package", []) if p.strip()),
        checkin_url=url("checkin_url", one("checkin_url")) if one("checkin_url").strip()
        else "",
    )


def parse(text: str, source: str = "answer file") -> Answers:
    """Answers from an answer file's text; errors name the source and the line."""
    values: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[a-z_]{1,32}", key):
            raise AnswerError(f"{source}, line {number}: not 'key = value': {raw[:60]!r}")
        if " #" in value:
            value = value.split(" #", 1)[0]
        values.setdefault(key, []).append(value.strip())
        lines.setdefault(key, number)
        if key not in KNOWN:
            raise AnswerError(f"{source}, line {number}: unknown key {key!r} "
                              f"(known: {', '.join(sorted(KNOWN))})")
    try:
        return build(values)
    except AnswerError as exc:
        where = f", line {lines[exc.key]}" if exc.key in lines else ""
        raise AnswerError(f"{source}{where}: {exc.message}", exc.key) from None


def render(answers: Answers) -> str:
    """An answer file for these answers (parse(render(a)) == a)."""
    out = [f"hostname = {answers.hostname}", f"disk = {answers.disk}",
           f"interface = {answers.interface}"]
    if answers.vlan:
        out.append(f"vlan = {answers.vlan}")
    out.append(f"address = {answers.address if answers.address else 'dhcp'}")
    if answers.gateway:
        out.append(f"gateway = {answers.gateway}")
    out += [f"nameserver = {n}" for n in answers.nameservers]
    out.append(f"deploy_user = {answers.deploy_user}")
    out += [f"ssh_key = {k}" for k in answers.ssh_keys]
    if answers.ssh_keys_url:
        out.append(f"ssh_keys_url = {answers.ssh_keys_url}")
    out += [f"mirror = {answers.mirror}", f"filesystem = {answers.filesystem}"]
    out += [f"package = {p}" for p in answers.packages]
    if answers.checkin_url:
        out.append(f"checkin_url = {answers.checkin_url}")
    return "\n".join(out) + "\n"
