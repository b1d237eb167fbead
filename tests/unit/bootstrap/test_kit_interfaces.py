"""The kit's interfaces template keeps the address pvcbootstrapd reaches a server at (its
bootstrap NIC, named by `pvc_bootstrap_mac` in the daemon's inventory), so the server is
still reachable when it boots again configured; without the variable it is left out.
Rendered with Jinja2 as Ansible does (trim_blocks, undefined values chainable); the
deploy tier runs the template through Ansible itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

TEMPLATE = Path(__file__).resolve().parents[3] / "deploy/ansible/roles/base/templates"
NETWORKS = {name: {"device": dev, "netmask": 24, "mtu": 1500}
            for name, dev in (("upstream", "ens4"), ("cluster", "ens5"), ("storage", "ens6"))}
NETWORKS["upstream"]["gateway_ip"] = "10.1.0.254"
NODE = {"upstream_ip": "10.1.0.1", "cluster_ip": "10.2.0.1", "storage_ip": "10.3.0.1"}
FACTS: dict[str, Any] = {
    "interfaces": ["lo", "ens3", "ens4", "ens5", "ens6"],
    "lo": {"ipv4": {"address": "127.0.0.1", "prefix": "8"}},
    "ens3": {"macaddress": "52:54:00:87:01:03",
             "ipv4": {"address": "10.87.9.101", "prefix": "24"}},
    "ens4": {"macaddress": "52:54:00:87:01:04"},
    "ens5": {"macaddress": "52:54:00:87:01:05"},
    "ens6": {"macaddress": "52:54:00:87:01:06"},
}


def render(**extra: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE), trim_blocks=True,
                             undefined=jinja2.ChainableUndefined)
    return env.get_template("interfaces.j2").render(
        ansible_managed="managed", networks=NETWORKS, pvc_node=NODE,
        ansible_facts=FACTS, **extra)


def stanza(text: str, iface: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"iface {iface} inet static")
    return [line.strip() for line in lines[start:start + 2]]


def test_the_bootstrap_nic_keeps_its_address_while_bootstrapping() -> None:
    text = render(pvc_bootstrap_mac="52:54:00:87:01:03")
    assert "auto ens3" in text
    assert stanza(text, "ens3") == ["iface ens3 inet static", "address 10.87.9.101/24"]
    assert stanza(text, "ens4") == ["iface ens4 inet static", "address 10.1.0.1/24"]
    # no gateway for it: the upstream network's stays the only default route
    assert [line.strip() for line in text.splitlines() if "gateway" in line] == [
        "gateway 10.1.0.254"]


def test_without_the_variable_or_on_a_network_device_it_is_left_out() -> None:
    assert "ens3" not in render()
    # a bootstrap NIC that is one of the kit's networks is configured as that network
    text = render(pvc_bootstrap_mac="52:54:00:87:01:04")
    assert text.count("iface ens4") == 1 and "ens3" not in text
    # a NIC without an address (or a MAC no NIC has) adds nothing
    assert "ens3" not in render(pvc_bootstrap_mac="52:54:00:87:01:99")
