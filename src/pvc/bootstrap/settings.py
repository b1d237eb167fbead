"""`pvcbootstrapd.yml`: the bootstrap daemon's own settings.

    repository: /srv/pvc-clusters     # the operator's cluster repository (git), as
                                      # deploy/ansible/create-local-repo.sh makes it; each
                                      # group_vars/<cluster>/bootstrap.yml is a cluster
    state_dir: /var/lib/pvcbootstrapd # its record, TFTP root, netboot files, dnsmasq
    iso: /var/cache/pvc-iso/pvc-installer.iso
    network:
      interface: bootstrap0
      address: 10.199.0.1/24          # the daemon's, on that interface
      dhcp_range: 10.199.0.100-10.199.0.199
      gateway: 10.199.0.1             # optional: what DHCP gives as the router (NAT out)
      nameservers: [10.199.0.1]       # optional
    port: 9999                        # its HTTP API, on the network address
    deploy_user: deploy
    ssh_keys:                         # the keys the deploy user accepts (Ansible's)
      - ssh-ed25519 AAAA... ansible@bootstrap
    redfish: {scheme: https, port: 443}  # optional: how the BMCs are reached
    ansible:                          # optional: run once every node of a cluster is up
      playbook: pvc.yml               # in the repository, with -l <cluster> -e do_bootstrap=yes
      ssh_key: /etc/pvc/bootstrap_ed25519  # the deploy user's (the ssh_keys' private one)
      ready_command: "..."            # optional: after Ansible every node reboots; this
                                      # (shell, as root) succeeds once a rebooted node is
                                      # ready for the hooks (default: its PVC node daemon
                                      # runs)
    webhook:                          # optional
      uri: https://chat.example.net/hooks/abc
      method: POST
      body: {text: "{icon} {message}"}
      icons: {info: "i", begin: "...", success: "ok", failure: "FAIL", completed: "done"}
      completed_triggerword: completed

Unknown keys and bad values are refused with the key named.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pvc.bootstrap import notify
from pvc.bootstrap.netboot import Network
from pvc.common.errors import InvalidArgument
from pvc.installer import answers

DEFAULT_PATH = Path("/etc/pvc/pvcbootstrapd.yml")
DEFAULT_PORT = 9999
# a node that rebooted configured is ready for the hooks once its PVC node daemon runs
DEFAULT_READY_COMMAND = (
    'pvc node info "$(hostname -s)" --format json | python3 -c "import json, sys; '
    "sys.exit(json.load(sys.stdin).get('daemon_state') != 'run')\"")


@dataclass(frozen=True)
class Settings:
    repository: Path
    state_dir: Path
    iso: Path
    network: Network
    port: int = DEFAULT_PORT
    deploy_user: str = answers.DEFAULT_USER
    ssh_keys: tuple[str, ...] = ()
    webhook: notify.WebhookSettings = field(default_factory=notify.WebhookSettings)
    redfish_scheme: str = "https"  # how the BMCs' Redfish is reached
    redfish_port: int | None = None  # None: the scheme's
    ansible_playbook: str = "pvc.yml"  # in the repository
    ansible_key: Path | None = None  # the deploy user's private key (None: Ansible's own)
    ready_command: str = DEFAULT_READY_COMMAND  # a node rebooted after Ansible is ready

    @property
    def http_base(self) -> str:
        return f"http://{self.network.address.ip}:{self.port}"


def _known(where: str, given: dict[str, Any], known: set[str], required: set[str]) -> None:
    for key in given:
        if key not in known:
            raise InvalidArgument(f"{where}: unknown key {key!r} (known: "
                                  f"{', '.join(sorted(known))})")
    for key in sorted(required - set(given)):
        raise InvalidArgument(f"{where}: {key!r} is missing")


def _network(raw: Any, where: str) -> Network:
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{where}: network is not a mapping")
    _known(f"{where} network", raw, {"interface", "address", "dhcp_range", "gateway",
                                     "nameservers"}, {"interface", "address", "dhcp_range"})
    try:
        address = ipaddress.IPv4Interface(str(raw["address"]))
        start, sep, end = str(raw["dhcp_range"]).partition("-")
        if not sep:
            raise ValueError(f"dhcp_range {raw['dhcp_range']!r} is not FIRST-LAST")
        gateway = ipaddress.IPv4Address(str(raw["gateway"])) if raw.get("gateway") else None
        names = tuple(ipaddress.IPv4Address(str(n)) for n in raw.get("nameservers") or [])
        return Network(answers.interface(str(raw["interface"])), address,
                       ipaddress.IPv4Address(start.strip()), ipaddress.IPv4Address(end.strip()),
                       gateway, names)
    except ValueError as exc:
        raise InvalidArgument(f"{where} network: {exc}") from None


def _webhook(raw: Any, where: str) -> notify.WebhookSettings:
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{where}: webhook is not a mapping")
    _known(f"{where} webhook", raw, {"uri", "method", "body", "icons",
                                     "completed_triggerword"}, {"uri"})
    uri = answers.url("webhook uri", str(raw["uri"]))
    method = str(raw.get("method", "POST")).upper()
    if method not in ("POST", "PUT"):
        raise InvalidArgument(f"{where} webhook: method {method!r} is not POST or PUT")
    body = raw.get("body", notify.DEFAULT_BODY)
    if not isinstance(body, dict):
        raise InvalidArgument(f"{where} webhook: body is not a mapping")
    icons = {**notify.DEFAULT_ICONS, **{str(k): str(v) for k, v in
                                        (raw.get("icons") or {}).items()}}
    return notify.WebhookSettings(uri, method, body, icons,
                                  str(raw.get("completed_triggerword", "completed")))


def _redfish(raw: Any, where: str) -> tuple[str, int | None]:
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{where}: redfish is not a mapping")
    _known(f"{where} redfish", raw, {"scheme", "port"}, set())
    scheme = str(raw.get("scheme", "https"))
    if scheme not in ("https", "http"):
        raise InvalidArgument(f"{where} redfish: scheme {scheme!r} is not https or http")
    port = raw.get("port")
    if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
        raise InvalidArgument(f"{where} redfish: port {port!r} is not a TCP port")
    return scheme, port


def _ansible(raw: Any, where: str) -> tuple[str, Path | None, str]:
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{where}: ansible is not a mapping")
    _known(f"{where} ansible", raw, {"playbook", "ssh_key", "ready_command"}, set())
    playbook = str(raw.get("playbook", "pvc.yml"))
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}\.ya?ml", playbook):
        raise InvalidArgument(f"{where} ansible: playbook {playbook!r} is not a playbook file "
                              "name of the repository")
    key = raw.get("ssh_key")
    ready = raw.get("ready_command", DEFAULT_READY_COMMAND)
    if not isinstance(ready, str) or not ready.strip() or len(ready) > 2000:
        raise InvalidArgument(f"{where} ansible: ready_command is not a command line")
    return playbook, Path(str(key)) if key else None, ready


def parse(text: str, where: str = "pvcbootstrapd.yml") -> Settings:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{where}: not YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{where}: not a mapping of settings")
    _known(where, raw, {"repository", "state_dir", "iso", "network", "port", "deploy_user",
                        "ssh_keys", "webhook", "redfish", "ansible"},
           {"repository", "state_dir", "iso", "network"})
    port = raw.get("port", DEFAULT_PORT)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgument(f"{where}: port {port!r} is not a TCP port")
    keys = raw.get("ssh_keys") or []
    if not isinstance(keys, list):
        raise InvalidArgument(f"{where}: ssh_keys is not a list")
    scheme, redfish_port = _redfish(raw.get("redfish") or {}, where)
    playbook, key, ready = _ansible(raw.get("ansible") or {}, where)
    return Settings(
        redfish_scheme=scheme, redfish_port=redfish_port, ansible_playbook=playbook,
        ansible_key=key, ready_command=ready,
        repository=Path(str(raw["repository"])), state_dir=Path(str(raw["state_dir"])),
        iso=Path(str(raw["iso"])), network=_network(raw["network"], where), port=port,
        deploy_user=answers.deploy_user(str(raw.get("deploy_user", answers.DEFAULT_USER))),
        ssh_keys=tuple(answers.ssh_key(str(k)) for k in keys),
        webhook=_webhook(raw["webhook"], where) if raw.get("webhook") else
        notify.WebhookSettings())


def load(path: Path) -> Settings:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None
    return parse(text, str(path))
