"""The shape of a development cluster: names, addresses, interfaces and paths.

Everything pvc-dev makes is derived from a `ClusterSpec`, which is saved as JSON in the
cluster's state directory so that every later command (and the BMC hooks) sees the same
layout. Two clusters with different names, prefixes and subnets can coexist (the system
tests use their own beside a developer's `dev` cluster).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pvc.common.errors import InvalidArgument, NotFound


def default_root() -> Path:
    return Path(os.environ.get("PVC_DEV_STATE_ROOT", "/var/lib/pvc-dev"))

NETWORKS = ("upstream", "cluster", "storage")
SHORT = {"upstream": "u", "cluster": "c", "storage": "s"}
MAX_NODES = 40
ZK_CLIENT_PORT = 2181
ZK_QUORUM_PORT = 2888
ZK_ELECTION_PORT = 3888
BMC_PORT = 623


@dataclass(frozen=True)
class ClusterSpec:
    name: str = "dev"
    nodes: int = 3
    coordinators: int = 3
    prefix: str = "pd"
    subnet: int = 77  # networks are 10.<subnet>.0.0/24 (upstream), .1 (cluster), .2 (storage)
    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    ipmi_password: str = field(default_factory=lambda: secrets.token_hex(6))
    ipmi_username: str = "pvcfence"
    # seconds before a graceful VM shutdown is forced (the tiny guests stop in < 1 s)
    vm_shutdown_timeout: int = 30
    root: str = field(default_factory=lambda: str(default_root()))

    def __post_init__(self) -> None:
        if not re.fullmatch(r"^[a-z][a-z0-9]{0,15}$", self.name):
            raise InvalidArgument(f"Invalid cluster name {self.name!r}")
        if not re.fullmatch(r"^[a-z]{1,3}$", self.prefix):
            raise InvalidArgument(f"Invalid interface prefix {self.prefix!r} (1-3 letters)")
        if not 1 <= self.nodes <= MAX_NODES:
            raise InvalidArgument(f"--nodes must be between 1 and {MAX_NODES}")
        if not 1 <= self.coordinators <= self.nodes:
            raise InvalidArgument("--coordinators must be between 1 and the number of nodes")
        if not 1 <= self.subnet <= 254:
            raise InvalidArgument("subnet must be between 1 and 254")

    # -- persistence ----------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return Path(self.root) / self.name

    @property
    def spec_file(self) -> Path:
        return self.state_dir / "cluster.json"

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.spec_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(self.spec_file)

    @classmethod
    def load(cls, name: str) -> ClusterSpec:
        return load_spec(default_root() / name)

    # -- names ----------------------------------------------------------
    @property
    def node_names(self) -> list[str]:
        return [f"hv{i}" for i in range(1, self.nodes + 1)]

    @property
    def coordinator_names(self) -> list[str]:
        return self.node_names[: self.coordinators]

    def node_index(self, node: str) -> int:
        if node not in self.node_names:
            raise NotFound(f"No node {node!r} in cluster {self.name} "
                           f"(nodes: {', '.join(self.node_names)})")
        return self.node_names.index(node) + 1

    def netns(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def bridge(self, net: str) -> str:
        return f"{self.prefix}br-{SHORT[net]}"

    def host_veth(self, node: str, net: str) -> str:
        return f"{self.prefix}{node}{SHORT[net]}"

    @staticmethod
    def node_device(net: str) -> str:
        return net  # inside a node the interfaces are called upstream, cluster, storage

    # -- addresses ------------------------------------------------------
    def network(self, net: str) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.{self.subnet}.{NETWORKS.index(net)}.0/24")

    def node_address(self, node: str, net: str) -> ipaddress.IPv4Interface:
        n = self.network(net)
        return ipaddress.IPv4Interface(f"{n.network_address + self.node_index(node)}/24")

    def host_address(self, net: str) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{self.network(net).network_address + 254}/24")

    def floating_address(self, net: str) -> ipaddress.IPv4Address:
        return self.network(net).network_address + 250

    def bmc_address(self, node: str) -> ipaddress.IPv4Address:
        return self.network("upstream").network_address + 200 + self.node_index(node)

    def router_address(self) -> ipaddress.IPv4Interface:
        """The upstream router's (the BGP peer of the coordinators)."""
        return ipaddress.IPv4Interface(f"{self.network('upstream').network_address + 253}/24")

    def router_netns(self) -> str:
        return f"{self.prefix}-router"

    def router_veth(self) -> str:
        return f"{self.prefix}router"

    # -- paths ----------------------------------------------------------
    def node_dir(self, node: str) -> Path:
        return self.state_dir / "nodes" / node

    def init_pid_file(self, node: str) -> Path:
        return self.node_dir(node) / "init.pid"

    def control_socket(self, node: str) -> Path:
        return self.node_dir(node) / "control.sock"

    def bmc_dir(self, node: str) -> Path:
        return self.state_dir / "bmc" / node

    def router_dir(self) -> Path:
        return self.state_dir / "router"

    def bmc_pid_file(self, node: str) -> Path:
        return self.bmc_dir(node) / "ipmi_sim.pid"

    def api_url(self) -> str:
        return f"http://{self.floating_address('upstream')}:7370/api/v1"

    def zookeeper_hosts(self) -> str:
        return ",".join(f"{self.node_address(n, 'cluster').ip}:{ZK_CLIENT_PORT}"
                        for n in self.coordinator_names)


def load_spec(state_dir: Path) -> ClusterSpec:
    """The spec saved in a cluster's state directory."""
    path = state_dir / "cluster.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"No development cluster in {state_dir} (no {path.name})") from None
    return ClusterSpec(**data)
