"""A cluster's `bootstrap.yml` (in the operator's cluster repository, next to its Ansible
variables): the servers the bootstrap daemon installs, keyed by their BMC's MAC address,
and the hooks it runs once the cluster is up.

    nodes:
      "52:54:00:aa:00:01":            # the BMC's MAC (it asks the bootstrap DHCP for a lease)
        hostname: hv1                  # as in hosts and pvc_nodes
        bmc:
          username: Administrator
          password: secret
          redfish: true                # false: the operator powers it on and PXE-boots it
          bios_settings: {}            # Redfish BIOS attributes to set before installing
          manager_settings: {}
        install:
          system_disks: [detect::480GB:0]   # one path, detect: rule or Redfish drive id;
                                            # several drive ids: a RAID-1 volume of them
          filesystem: ext4
          mirror: http://deb.debian.org/debian
          packages: []
          kernel_options: []
          interface: ""                # the NIC to configure ("" = the one it booted from)
          mac: ""                      # the MAC of the NIC it PXE-boots from: learnt through
                                       # Redfish, so needed only with redfish: false
    hooks:
      - name: data OSD on every node
        type: osd                      # osddb osd pool network copy script webhook
        target: all                    # or a list of hostnames
        args: {disk: /dev/sdb}

Every error names the file, the line and the key or value that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from pvc.common.errors import InvalidArgument, NotFound
from pvc.installer import answers

MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
HOOK_TYPES = ("osddb", "osd", "pool", "network", "copy", "script", "webhook")
REDFISH_ID = re.compile(r"[A-Za-z0-9._:/-]{1,128}")


class BootstrapConfigError(InvalidArgument):
    """A bootstrap.yml that cannot be used: the message names the file and line."""


@dataclass(frozen=True)
class Bmc:
    username: str = ""
    password: str = ""
    redfish: bool = True
    bios_settings: dict[str, Any] = field(default_factory=dict)
    manager_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Install:
    system_disks: tuple[str, ...] = ("detect:::0",)
    filesystem: str = "ext4"
    mirror: str = answers.DEFAULT_MIRROR
    packages: tuple[str, ...] = ()
    kernel_options: tuple[str, ...] = ()
    interface: str = ""
    mac: str = ""


@dataclass(frozen=True)
class Node:
    bmc_mac: str
    hostname: str
    bmc: Bmc
    install: Install


@dataclass(frozen=True)
class Hook:
    name: str
    type: str
    target: tuple[str, ...]  # ("all",) or hostnames
    args: dict[str, Any]


@dataclass(frozen=True)
class BootstrapConfig:
    nodes: tuple[Node, ...]
    hooks: tuple[Hook, ...]

    def node_by_bmc(self, mac: str) -> Node | None:
        return next((n for n in self.nodes if n.bmc_mac == mac.lower()), None)

    def node_by_hostname(self, hostname: str) -> Node:
        found = next((n for n in self.nodes if n.hostname == hostname), None)
        if found is None:
            raise NotFound(f"node {hostname!r} is not in bootstrap.yml")
        return found


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node, message: str) -> BootstrapConfigError:
        return BootstrapConfigError(f"{self.source}, line {node.start_mark.line + 1}: {message}")

    def mapping(self, node: yaml.Node, where: str, known: dict[str, bool]
                ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """{key: (key node, value node)} of a mapping whose keys are among `known`
        (key -> required)."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} is not a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in known:
                raise self.fail(key_node, f"unknown key {key!r} in {where} "
                                f"(known: {', '.join(known)})")
            if key in out:
                raise self.fail(key_node, f"{key!r} is given twice in {where}")
            out[key] = (key_node, value_node)
        for key, required in known.items():
            if required and key not in out:
                raise self.fail(node, f"{where} has no {key!r}")
        return out

    def scalar(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{where} is not a single value")
        return str(node.value)

    def boolean(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node, where).lower()
        if value in ("true", "yes", "on"):
            return True
        if value in ("false", "no", "off"):
            return False
        raise self.fail(node, f"{where} {value!r} is not true or false")

    def strings(self, node: yaml.Node, where: str,
                check: Callable[[str], object] | None = None) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{where} is not a list")
        out = []
        for item in node.value:
            value = self.scalar(item, f"an item of {where}")
            if check is not None:
                try:
                    check(value)
                except InvalidArgument as exc:
                    raise self.fail(item, f"{where}: {exc.message}") from None
            out.append(value)
        return tuple(out)

    def settings(self, node: yaml.Node, where: str) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} is not a mapping")
        value = yaml.safe_load(yaml.serialize(node))
        return dict(value or {})

    def checked(self, node: yaml.Node, where: str, check: Callable[[str], Any]) -> Any:
        try:
            return check(self.scalar(node, where))
        except BootstrapConfigError:
            raise
        except InvalidArgument as exc:
            raise self.fail(node, exc.message) from None


def _system_disk(value: str) -> None:
    if value.startswith(("/", "detect:")):
        answers.disk(value)
    elif not REDFISH_ID.fullmatch(value):
        raise InvalidArgument(f"system disk {value!r} is neither a path, a detect: rule nor "
                              "a Redfish drive id")


def _hostname(value: str) -> str:
    if not HOSTNAME.fullmatch(value):
        raise InvalidArgument(f"hostname {value!r} is not a host name (lower-case letters, "
                              "digits and -)")
    return value


def _mac(value: str, what: str = "") -> str:
    if not MAC.fullmatch(value.lower()):
        raise InvalidArgument(f"{what + ' ' if what else ''}{value!r} is not a MAC address "
                              "(e.g. 52:54:00:aa:00:01)")
    return value.lower()


def where_mac(node: Node) -> str:
    return f"install mac {node.install.mac}" if node.install.mac else f"BMC {node.bmc_mac}"


def _node(r: _Reader, mac: str, node: yaml.Node) -> Node:
    """One node's entry; what it leaves out takes `Bmc`'s and `Install`'s defaults."""
    where = f"node {mac}"
    keys = r.mapping(node, where, {"hostname": True, "bmc": False, "install": False})
    hostname = r.checked(keys["hostname"][1], f"{where} hostname", _hostname)
    bmc_fields: dict[str, Callable[[yaml.Node], Any]] = {
        "username": lambda n: r.scalar(n, "username"),
        "password": lambda n: r.scalar(n, "password"),
        "redfish": lambda n: r.boolean(n, f"{where} bmc redfish"),
        "bios_settings": lambda n: r.settings(n, "bios_settings"),
        "manager_settings": lambda n: r.settings(n, "manager_settings"),
    }
    install_fields: dict[str, Callable[[yaml.Node], Any]] = {
        "system_disks": lambda n: r.strings(n, "system_disks", _system_disk),
        "filesystem": lambda n: r.checked(n, "filesystem", answers.filesystem),
        "mirror": lambda n: r.checked(n, "mirror", lambda v: answers.url("mirror", v)),
        "packages": lambda n: r.strings(n, "packages", answers.package),
        "kernel_options": lambda n: r.strings(n, "kernel_options", _kernel_option),
        "interface": lambda n: r.checked(n, "interface", answers.interface)
        if r.scalar(n, "interface") else "",
        "mac": lambda n: r.checked(n, "install mac", lambda v: _mac(v, f"{where} install mac")),
    }

    def given(section: str, fields: dict[str, Callable[[yaml.Node], Any]]) -> dict[str, Any]:
        if section not in keys:
            return {}
        found = r.mapping(keys[section][1], f"{where} {section}", dict.fromkeys(fields, False))
        return {name: fields[name](value) for name, (_, value) in found.items()}

    bmc = Bmc(**given("bmc", bmc_fields))
    if bmc.redfish and not (bmc.username and bmc.password):
        raise r.fail(node, f"{where}: a Redfish BMC needs bmc username and password")
    install = Install(**given("install", install_fields))
    if "install" in keys:
        _check_system_disks(r, keys["install"][1], where, install.system_disks, bmc.redfish)
    if not bmc.redfish and not install.mac:
        raise r.fail(node, f"{where}: without Redfish, install mac (the MAC of the NIC it "
                     "PXE-boots from) is needed")
    return Node(mac, hostname, bmc, install)


def is_drive_id(value: str) -> bool:
    """A system_disks entry naming a drive as the BMC's Redfish lists it."""
    return not value.startswith(("/", "detect:"))


def _check_system_disks(r: _Reader, node: yaml.Node, where: str, disks: tuple[str, ...],
                        redfish: bool) -> None:
    if not disks:
        raise r.fail(node, f"{where}: system_disks names 0 disks; it takes one (a path, a "
                     "detect: rule or a Redfish drive id) or several Redfish drive ids (a "
                     "RAID-1 volume of them)")
    if len(disks) > 1 and not all(is_drive_id(d) for d in disks):
        raise r.fail(node, f"{where}: system_disks names {len(disks)} disks; several are "
                     "the Redfish drive ids of a RAID-1 volume, not paths or detect: rules")
    if len(set(disks)) != len(disks):
        raise r.fail(node, f"{where}: system_disks names a drive twice")
    for disk in disks:
        if is_drive_id(disk) and not redfish:
            raise r.fail(node, f"{where}: system disk {disk!r} is a Redfish drive id, "
                         "which needs redfish: true (or give a path or a detect: rule)")


def _kernel_option(value: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.,:=/+-]{1,200}", value):
        raise InvalidArgument(f"kernel option {value!r} has characters other than letters, "
                              "digits and _ . , : = / + -")


def _hook(r: _Reader, node: yaml.Node, hostnames: set[str]) -> Hook:
    keys = r.mapping(node, "a hook", {"name": True, "type": True, "target": False,
                                      "args": False})
    name = r.scalar(keys["name"][1], "hook name")
    kind = r.scalar(keys["type"][1], f"hook {name!r} type")
    if kind not in HOOK_TYPES:
        raise r.fail(keys["type"][1], f"hook {name!r}: type {kind!r} is not one of "
                     f"{', '.join(HOOK_TYPES)}")
    target: tuple[str, ...] = ("all",)
    if "target" in keys:
        value = keys["target"][1]
        if isinstance(value, yaml.ScalarNode) and value.value == "all":
            target = ("all",)
        else:
            target = r.strings(value, f"hook {name!r} target")
            for host, item in zip(target, value.value, strict=True):
                if host not in hostnames:
                    raise r.fail(item, f"hook {name!r}: target {host!r} is not a node of "
                                 "this file")
    args = r.settings(keys["args"][1], f"hook {name!r} args") if "args" in keys else {}
    return Hook(name, kind, target, args)


def parse(text: str, source: str = "bootstrap.yml") -> BootstrapConfig:
    r = _Reader(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise BootstrapConfigError(f"{source}{line}: not YAML: "
                                   f"{getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise BootstrapConfigError(f"{source}: the file is empty")
    top = r.mapping(root, "the file", {"nodes": True, "hooks": False})
    nodes_node = top["nodes"][1]
    if not isinstance(nodes_node, yaml.MappingNode):
        raise r.fail(nodes_node, "nodes is not a mapping of BMC MAC addresses")
    nodes: list[Node] = []
    for key_node, value_node in nodes_node.value:
        mac = r.checked(key_node, "a BMC MAC address", _mac)
        if any(n.bmc_mac == mac for n in nodes):
            raise r.fail(key_node, f"BMC {mac} is given twice")
        made = _node(r, mac, value_node)
        if any(n.hostname == made.hostname for n in nodes):
            raise r.fail(value_node, f"hostname {made.hostname!r} is given twice")
        taken = {n.bmc_mac for n in nodes} | {n.install.mac for n in nodes} | {mac}
        if made.install.mac in taken or mac in {n.install.mac for n in nodes}:
            raise r.fail(value_node, f"{where_mac(made)} is given twice")
        nodes.append(made)
    hooks: list[Hook] = []
    if "hooks" in top:
        hooks_node = top["hooks"][1]
        if not isinstance(hooks_node, yaml.SequenceNode):
            raise r.fail(hooks_node, "hooks is not a list")
        hooks = [_hook(r, h, {n.hostname for n in nodes}) for h in hooks_node.value]
    return BootstrapConfig(tuple(nodes), tuple(hooks))
