"""Names, addresses and directories of a set of deployment targets."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from pvc.common.errors import InvalidArgument
from pvc.devcluster.layout import default_root

NETWORKS = ("upstream", "cluster", "storage")
DEVICES = {"upstream": "ens4", "cluster": "ens5", "storage": "ens6"}
SHORT = {"upstream": "u", "cluster": "c", "storage": "s"}
APT_CACHE_PORT = 3142
RELEASE = "bookworm"
MIRROR_HOST = "deb.debian.org"
MAX_TARGETS = 9


@dataclass(frozen=True)
class TargetSpec:
    name: str = "deploy"
    count: int = 3
    prefix: str = "dt"  # not the dev clusters' (pd, and pt for the test cluster)
    subnet: int = 88  # networks are 10.<subnet>.0.0/24 (upstream), .1 (cluster), .2 (storage)
    root: str = field(default_factory=lambda: str(default_root()))

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", self.name):
            raise InvalidArgument(f"Invalid target set name {self.name!r}")
        if not re.fullmatch(r"[a-z]{1,3}", self.prefix):
            raise InvalidArgument(f"Invalid interface prefix {self.prefix!r} (1-3 letters)")
        if not 1 <= self.count <= MAX_TARGETS:
            raise InvalidArgument(f"The number of targets must be between 1 and {MAX_TARGETS}")
        if not 1 <= self.subnet <= 254:
            raise InvalidArgument("subnet must be between 1 and 254")

    # -- names ------------------------------------------------------------
    @property
    def hostnames(self) -> list[str]:
        return [f"hv{i}" for i in range(1, self.count + 1)]

    def machine(self, host: str) -> str:
        return f"{self.prefix}-{self.name}-{host}"

    def netns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def bridge(self, net: str) -> str:
        return f"{self.prefix}br-{SHORT[net]}"

    def host_veth(self, host: str, net: str) -> str:
        return f"{self.prefix}{host}{SHORT[net]}"

    # -- addresses ------------------------------------------------------------
    def network(self, net: str) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.{self.subnet}.{NETWORKS.index(net)}.0/24")

    def address(self, host: str, net: str) -> ipaddress.IPv4Interface:
        index = self.hostnames.index(host) + 1
        return ipaddress.IPv4Interface(f"{self.network(net)[index]}/24")

    def host_address(self, net: str) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{self.network(net)[254]}/24")

    @property
    def mirror(self) -> str:
        """The Debian mirror as the targets reach it: through the host's apt cache."""
        return (f"http://{self.host_address('upstream').ip}:{APT_CACHE_PORT}/"
                f"{MIRROR_HOST}/debian")

    @property
    def security_mirror(self) -> str:
        return (f"http://{self.host_address('upstream').ip}:{APT_CACHE_PORT}/"
                f"{MIRROR_HOST}/debian-security")

    # -- directories ------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return Path(self.root) / "targets" / self.name

    def machine_dir(self, host: str) -> Path:
        return self.state_dir / host

    def rootfs(self, host: str) -> Path:
        return self.machine_dir(host) / "root"

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def cache_dir(self) -> Path:
        """Kept between runs, like pvc-dev's other downloads."""
        return Path(self.root) / "cache" / "targets"
