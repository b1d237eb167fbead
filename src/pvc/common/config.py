"""pvc.conf: one YAML file, PVC's sections, shared by every daemon and the local CLI.

Only the keys this implementation uses are typed here; the rest of the file is kept in
`Config.raw` so later subsystems can read their own sections.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pvc.common import names
from pvc.common.errors import InvalidArgument
from pvc.common.vm import SELECTORS

DEFAULT_CONFIG_FILE = "/etc/pvc/pvc.conf"
FENCE_ACTIONS = ("migrate", "none")  # what recovery follows a fence, or its failure
# The documented sample: every key with its default and why.
SAMPLE_FILE = Path(__file__).with_name("pvc.sample.conf")
NETWORK_NAMES = ("upstream", "cluster", "storage")
# where guests ask for their cloud-init metadata: held by the primary on its loopback
METADATA_ADDRESS = "169.254.169.254"
METADATA_PORT = 80


def config_path() -> Path:
    return Path(os.environ.get("PVC_CONFIG_FILE", DEFAULT_CONFIG_FILE))


@dataclass(frozen=True)
class CoreNetwork:
    name: str
    device: str
    mtu: int
    network: ipaddress.IPv4Network
    floating_address: ipaddress.IPv4Address | None
    gateway_address: ipaddress.IPv4Address | None
    domain: str
    node_ip_selection: str

    def node_address(self, node: str) -> ipaddress.IPv4Interface:
        """The node's own address on this network (PVC's `by-id`: network + node id)."""
        if self.node_ip_selection != "by-id":
            try:
                addr = ipaddress.IPv4Address(self.node_ip_selection)
            except ValueError as exc:
                raise InvalidArgument(
                    f"networks.{self.name}.node_ip_selection must be 'by-id' or an address"
                ) from exc
        else:
            addr = self.network.network_address + names.node_id(node)
        if addr not in self.network:
            raise InvalidArgument(f"Address {addr} for {node} is outside {self.network}")
        return ipaddress.IPv4Interface(f"{addr}/{self.network.prefixlen}")

    def floating_interface(self) -> ipaddress.IPv4Interface | None:
        if self.floating_address is None:
            return None
        return ipaddress.IPv4Interface(f"{self.floating_address}/{self.network.prefixlen}")


@dataclass(frozen=True)
class ApiToken:
    description: str
    token: str


@dataclass(frozen=True)
class Config:
    raw: dict[str, Any]
    cluster_name: str
    all_nodes: tuple[str, ...]
    coordinator_nodes: tuple[str, ...]
    networks: dict[str, CoreNetwork]
    zookeeper_port: int
    zookeeper_session_timeout: float
    keepalive_interval: float
    monitoring_interval: float
    vm_shutdown_timeout: float
    fence_intervals: int
    suicide_intervals: int
    successful_fence: str
    failed_fence: str
    ipmi_hostname: str
    ipmi_username: str
    ipmi_password: str
    target_selector: str
    flush_concurrency: int
    domain_type: str  # auto, kvm or qemu
    node_log_lines: int
    console_log_lines: int
    log_keepalives: bool
    debug_logging: bool
    dynamic_directory: Path
    system_log_directory: Path
    api_address: str
    api_port: int
    api_auth_enabled: bool
    api_tokens: tuple[ApiToken, ...]
    api_ssl_enabled: bool
    api_ssl_certificate: str
    api_ssl_private_key: str
    enable_prometheus: bool
    enable_storage: bool = True
    # timer.takeover_timeout: seconds a new primary waits for its address keeper and for
    # pvcapid to answer before it gives the role up (slow or overloaded servers need more)
    takeover_timeout: float = 15.0
    # fencing.disable_on_ipmi_failure: a node whose BMC does not answer when its daemon
    # starts is never fenced (pvc.node.ha.bmc_check)
    disable_on_ipmi_failure: bool = False
    enable_worker: bool = True
    ceph_config_file: Path = Path("/etc/ceph/ceph.conf")
    ceph_keyring_file: Path = Path("/etc/ceph/ceph.client.admin.keyring")
    ceph_monitor_port: int = 6789
    ceph_safe_utilization: float = 0.8
    ceph_secret_uuid: str = ""
    ceph_service_control: str = "systemd"  # systemd or direct (pvc.node.services)
    keydb_port: int = 6379
    # empty: Sentinel on the coordinators names the master (keydb_sentinel_port), or with
    # no Sentinel the cluster network's floating address
    keydb_hostname: str = ""
    keydb_path: str = "/0"
    keydb_sentinel_port: int = 26379  # 0: no Sentinel
    keydb_master_name: str = "pvc"
    # PostgreSQL (under Patroni) of the provisioner; empty hostname: every coordinator's
    # cluster address (the writable member, the leader, is whichever answers as one)
    postgres_port: int = 5432
    postgres_hostname: str = ""
    postgres_api_database: str = "pvcapi"
    postgres_api_username: str = "pvcapi"
    postgres_api_password: str = ""
    # PowerDNS's database (pvc.node.network.dns): empty password, no DNS aggregation
    postgres_dns_database: str = "pvcdns"
    postgres_dns_username: str = "pvcdns"
    postgres_dns_password: str = ""
    # Client networks (pvc.node.network): managed networks' VXLANs ride the cluster network;
    # bridged networks are VLANs of guest_networking.bridge_device.
    enable_networking: bool = True
    bridge_device: str = ""
    bridge_mtu: int = 1500
    # the primary hides the managed networks behind its upstream address (for clusters
    # without upstream BGP peers that route the client subnets)
    guest_source_nat: bool = False
    source: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -- derived values -------------------------------------------------
    def is_coordinator(self, node: str) -> bool:
        return node in self.coordinator_nodes

    def zookeeper_hosts(self, prefer: str | None = None) -> str:
        """The ensemble as a kazoo host string; `prefer` (a coordinator) goes first."""
        order = list(self.coordinator_nodes)
        if prefer in order:
            order.remove(prefer)
            order.insert(0, prefer)
        cluster = self.networks["cluster"]
        return ",".join(f"{cluster.node_address(n).ip}:{self.zookeeper_port}" for n in order)

    def ipmi_host_for(self, node: str) -> str:
        return self.ipmi_hostname.replace("{node_id}", str(names.node_id(node))).replace(
            "{node_name}", node
        )

    @property
    def redis_sentinel(self) -> bool:
        """Whether clients find the Redis master through Sentinel on the coordinators."""
        return not self.keydb_hostname and self.keydb_sentinel_port > 0

    def redis_url(self) -> str:
        """The Celery broker and result store: one Redis (`sentinel://` URLs: the Sentinels
        of every coordinator, which name the master of `keydb_master_name`)."""
        path = self.keydb_path if self.keydb_path.startswith("/") else "/" + self.keydb_path
        if self.redis_sentinel:
            cluster = self.networks["cluster"]
            return ";".join(f"sentinel://{cluster.node_address(n).ip}:"
                            f"{self.keydb_sentinel_port}{path}"
                            for n in self.coordinator_nodes)
        host = self.keydb_hostname or str(self.networks["cluster"].floating_address or "")
        if not host:
            raise InvalidArgument("pvc.conf: database.keydb.hostname is empty and the cluster "
                                  "network has no floating address")
        return f"redis://{host}:{self.keydb_port}{path}"

    @property
    def metadata_enabled(self) -> bool:
        """Whether the primary serves cloud-init metadata to the managed networks (at
        METADATA_ADDRESS on its loopback): with client networks and the provisioner."""
        return self.enable_networking and bool(self.postgres_api_password)

    @property
    def dns_aggregation(self) -> bool:
        """Whether the primary serves the managed networks' zones with PowerDNS on the
        floating addresses: with client networks and PowerDNS's database."""
        return self.enable_networking and bool(self.postgres_dns_password)

    def postgres_hosts(self) -> list[str]:
        if self.postgres_hostname:
            return [h.strip() for h in self.postgres_hostname.split(",") if h.strip()]
        cluster = self.networks["cluster"]
        return [str(cluster.node_address(n).ip) for n in self.coordinator_nodes]

    def upstream_floating(self) -> str | None:
        fl = self.networks["upstream"].floating_address
        return str(fl) if fl else None


def _get(d: dict[str, Any], dotted: str, default: Any = None) -> Any:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "true", "on", "1")


def _network(raw: dict[str, Any], name: str) -> CoreNetwork:
    sect = _get(raw, f"cluster.networks.{name}")
    if not isinstance(sect, dict):
        raise InvalidArgument(f"pvc.conf: cluster.networks.{name} is missing")
    try:
        net = ipaddress.IPv4Network(
            f"{_get(sect, 'ipv4.network_address')}/{_get(sect, 'ipv4.netmask')}"
        )
    except ValueError as exc:
        raise InvalidArgument(f"pvc.conf: cluster.networks.{name}.ipv4 is invalid: {exc}") from exc

    def addr(key: str) -> ipaddress.IPv4Address | None:
        val = _get(sect, f"ipv4.{key}")
        if val in (None, "", "None"):
            return None
        a = names.ipv4_address(str(val))
        if a not in net:
            raise InvalidArgument(f"pvc.conf: cluster.networks.{name}.ipv4.{key} not in {net}")
        return a

    return CoreNetwork(
        name=name,
        device=names.interface_name(str(sect.get("device", ""))),
        mtu=int(sect.get("mtu", 1500)),
        network=net,
        floating_address=addr("floating_address"),
        gateway_address=addr("gateway_address"),
        domain=str(sect.get("domain", "")),
        node_ip_selection=str(sect.get("node_ip_selection", "by-id")),
    )


def _domain_type(value: str) -> str:
    if value not in ("auto", "kvm", "qemu"):
        raise InvalidArgument(f"pvc.conf: hypervisor.domain_type {value!r}: use auto, kvm or qemu")
    return value


def _choice(raw: dict[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = str(_get(raw, key, default))
    if value not in allowed:
        raise InvalidArgument(f"pvc.conf: {key} {value!r}: use {', '.join(allowed)}")
    return value


def _positive(raw: dict[str, Any], key: str, default: float) -> float:
    value = _get(raw, key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if not 0 < number <= 3600:
        raise InvalidArgument(f"pvc.conf: {key} {value!r}: use a number of seconds above 0 "
                              "and at most 3600")
    return number


def _service_control(value: str) -> str:
    if value not in ("systemd", "direct"):
        raise InvalidArgument(f"pvc.conf: ceph.service_control {value!r}: use systemd or direct")
    return value


def parse(raw: dict[str, Any], source: Path | None = None) -> Config:
    if not isinstance(raw, dict):
        raise InvalidArgument("pvc.conf: the file is not a YAML mapping")
    all_nodes = tuple(names.node_name(str(n)) for n in _get(raw, "cluster.all_nodes", []) or [])
    coords = tuple(
        names.node_name(str(n)) for n in _get(raw, "cluster.coordinator_nodes", []) or []
    )
    if not coords:
        raise InvalidArgument("pvc.conf: cluster.coordinator_nodes is empty")
    if any(c not in all_nodes for c in coords):
        raise InvalidArgument("pvc.conf: every coordinator must also be in cluster.all_nodes")
    tokens = tuple(
        ApiToken(str(t.get("description", "")), str(t.get("token", "")))
        for t in (_get(raw, "api.token", []) or [])
        if isinstance(t, dict) and t.get("token")
    )
    failed_fence = str(_get(raw, "fencing.actions.failed_fence", "none"))
    if failed_fence in ("None", ""):
        failed_fence = "none"
    if failed_fence not in FENCE_ACTIONS:
        raise InvalidArgument(f"pvc.conf: fencing.actions.failed_fence {failed_fence!r}: use "
                              f"{', '.join(FENCE_ACTIONS)}")
    return Config(
        raw=raw,
        source=source,
        cluster_name=str(_get(raw, "cluster.name", "pvc")),
        all_nodes=all_nodes,
        coordinator_nodes=coords,
        networks={n: _network(raw, n) for n in NETWORK_NAMES},
        zookeeper_port=int(_get(raw, "database.zookeeper.port", 2181)),
        zookeeper_session_timeout=float(_get(raw, "database.zookeeper.session_timeout", 3)),
        keepalive_interval=float(_get(raw, "timer.keepalive_interval", 1)),
        monitoring_interval=float(_get(raw, "timer.monitoring_interval", 15)),
        vm_shutdown_timeout=float(_get(raw, "timer.vm_shutdown_timeout", 180)),
        takeover_timeout=_positive(raw, "timer.takeover_timeout", 15.0),
        fence_intervals=int(_get(raw, "fencing.intervals.fence_intervals", 4)),
        # on by default, below fence_intervals (pvc.node.ha.self_fence; the sample says why);
        # upstream's parser read the singular key, so it is accepted too
        suicide_intervals=max(0, int(_get(raw, "fencing.intervals.suicide_intervals",
                                          _get(raw, "fencing.intervals.suicide_interval", 3)))),
        successful_fence=_choice(raw, "fencing.actions.successful_fence", "migrate",
                                 FENCE_ACTIONS),
        failed_fence=failed_fence,
        ipmi_hostname=str(_get(raw, "fencing.ipmi.hostname", "")),
        ipmi_username=str(_get(raw, "fencing.ipmi.username", "")),
        ipmi_password=str(_get(raw, "fencing.ipmi.password", "")),
        target_selector=_choice(raw, "migration.target_selector", "mem", SELECTORS),
        flush_concurrency=max(1, int(_get(raw, "migration.flush_concurrency", 4))),
        domain_type=_domain_type(str(_get(raw, "hypervisor.domain_type", "auto"))),
        node_log_lines=int(_get(raw, "logging.node_log_lines", 2000)),
        console_log_lines=int(_get(raw, "logging.console_log_lines", 1000)),
        log_keepalives=_bool(_get(raw, "logging.log_keepalives", False)),
        debug_logging=_bool(_get(raw, "logging.debug_logging", False)),
        dynamic_directory=Path(str(_get(raw, "path.dynamic_directory", "/run/pvc"))),
        system_log_directory=Path(str(_get(raw, "path.system_log_directory", "/var/log/pvc"))),
        api_address=str(_get(raw, "api.listen.address", "0.0.0.0")),
        api_port=int(_get(raw, "api.listen.port", 7370)),
        api_auth_enabled=_bool(_get(raw, "api.authentication.enabled", True)),
        api_tokens=tokens,
        api_ssl_enabled=_bool(_get(raw, "api.ssl.enabled", False)),
        api_ssl_certificate=str(_get(raw, "api.ssl.certificate", "")),
        api_ssl_private_key=str(_get(raw, "api.ssl.private_key", "")),
        enable_prometheus=_bool(_get(raw, "subsystem.enable_prometheus", True)),
        enable_storage=_bool(_get(raw, "subsystem.enable_storage", True)),
        disable_on_ipmi_failure=_bool(_get(raw, "fencing.disable_on_ipmi_failure", False)),
        enable_worker=_bool(_get(raw, "subsystem.enable_worker", True)),
        ceph_config_file=_ceph_path(raw, "ceph.ceph_config_file", "ceph.conf"),
        ceph_keyring_file=_ceph_path(raw, "ceph.ceph_keyring_file",
                                     "ceph.client.admin.keyring"),
        ceph_monitor_port=int(_get(raw, "ceph.monitor_port", 6789)),
        ceph_safe_utilization=float(_get(raw, "ceph.safe_utilization", 0.8)),
        ceph_secret_uuid=str(_get(raw, "ceph.secret_uuid", "") or ""),
        ceph_service_control=_service_control(str(_get(raw, "ceph.service_control",
                                                       "systemd"))),
        keydb_port=int(_get(raw, "database.keydb.port", 6379)),
        keydb_hostname=str(_get(raw, "database.keydb.hostname", "") or ""),
        keydb_path=str(_get(raw, "database.keydb.path", "/0") or "/0"),
        keydb_sentinel_port=_port(raw, "database.keydb.sentinel_port", 26379, allow_zero=True),
        keydb_master_name=_master_name(str(_get(raw, "database.keydb.master_name", "pvc")
                                           or "pvc")),
        postgres_port=_port(raw, "database.postgres.port", 5432),
        postgres_hostname=str(_get(raw, "database.postgres.hostname", "") or ""),
        postgres_api_database=str(_get(raw, "database.postgres.credentials.api.database",
                                       "pvcapi") or "pvcapi"),
        postgres_api_username=str(_get(raw, "database.postgres.credentials.api.username",
                                       "pvcapi") or "pvcapi"),
        postgres_api_password=str(_get(raw, "database.postgres.credentials.api.password", "")
                                  or ""),
        postgres_dns_database=_db_word(raw, "database.postgres.credentials.dns.database",
                                       "pvcdns"),
        postgres_dns_username=_db_word(raw, "database.postgres.credentials.dns.username",
                                       "pvcdns"),
        postgres_dns_password=_db_word(raw, "database.postgres.credentials.dns.password", ""),
        enable_networking=_bool(_get(raw, "subsystem.enable_networking", True)),
        bridge_device=_bridge_device(raw),
        bridge_mtu=int(_get(raw, "guest_networking.bridge_mtu", 1500)),
        guest_source_nat=_bool(_get(raw, "guest_networking.source_nat", False)),
    )


def _bridge_device(raw: dict[str, Any]) -> str:
    value = str(_get(raw, "guest_networking.bridge_device", "") or "")
    return names.interface_name(value) if value else ""


DB_WORD = re.compile(r"(?:(?![#\\])[!-~]){0,128}")  # printable ASCII but '#' and '\\'
MASTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _master_name(value: str) -> str:
    if not MASTER_NAME.fullmatch(value):
        raise InvalidArgument(f"pvc.conf: database.keydb.master_name {value!r} must be letters, "
                              "digits, '.', '_' or '-' (at most 64)")
    return value


def _db_word(raw: dict[str, Any], dotted: str, default: str) -> str:
    """A database name, user or password that goes into a server's config file (PowerDNS
    reads `key=value` lines): printable, without spaces, '#' or backslashes."""
    value = str(_get(raw, dotted, default) or default)
    if not DB_WORD.fullmatch(value):
        raise InvalidArgument(f"pvc.conf: {dotted} must be printable characters without "
                              "spaces, '#' or '\\' (at most 128)")
    return value


def _port(raw: dict[str, Any], dotted: str, default: int, allow_zero: bool = False) -> int:
    try:
        value = int(_get(raw, dotted, default))
    except (TypeError, ValueError):
        raise InvalidArgument(f"pvc.conf: {dotted} must be a port number") from None
    if not (0 if allow_zero else 1) <= value <= 65535:
        raise InvalidArgument(f"pvc.conf: {dotted} must be a port number"
                              + (" (0: none)" if allow_zero else ""))
    return value


def _ceph_path(raw: dict[str, Any], dotted: str, default: str) -> Path:
    """A Ceph file: absolute as given, or relative to path.ceph_directory."""
    value = Path(str(_get(raw, dotted, default) or default))
    return value if value.is_absolute() else Path(
        str(_get(raw, "path.ceph_directory", "/etc/ceph"))) / value


def load(path: Path | str | None = None) -> Config:
    p = Path(path) if path else config_path()
    try:
        text = p.read_text()
    except OSError as exc:
        raise InvalidArgument(f"Cannot read configuration file {p}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"Configuration file {p} is not valid YAML: {exc}") from exc
    return parse(raw, source=p)


def this_node() -> str:
    """The node's own name: its short hostname, as PVC derives it."""
    return names.node_name(socket.gethostname().split(".")[0])
