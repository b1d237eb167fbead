"""`pvc network`: add, modify, remove, info and list client networks, and the `dhcp`,
`acl` and `sriov` sub-groups.

Managed networks are VXLANs that PVC routes and serves (gateway, DHCP, DNS, firewall);
bridged networks are plain VLANs bridged onto the nodes' bridge device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.network import format as format_network
from pvc.cli.network.acl import acl_group
from pvc.cli.network.common import (
    LIST_FORMATS,
    MTU,
    VNI,
    YES,
    network_api,
    of_network,
    or_empty,
)
from pvc.cli.network.dhcp import dhcp_group
from pvc.cli.network.sriov import sriov_group
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.client.network.api import NETWORK_TYPES

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _settings_options(modify: bool) -> Decorator:
    """The options that set a network's addressing (all optional when modifying, where
    an empty string clears a setting)."""
    clear = '; "" removes it' if modify else ""
    mtu_reset = '; "" goes back to it' if modify else ""
    options = [
        click.option("-m", "--mtu", "mtu", type=MTU, default=None,
                     help="MTU of the network; at most the underlying device's "
                     f"(default: that MTU{mtu_reset})."),
        click.option("-n", "--domain", "domain", default=None,
                     help="DNS domain of the network (managed; default DESCRIPTION.local)."),
        click.option("--dns-server", "name_servers", multiple=True,
                     help="A DNS server handed out by DHCP; repeat for several"
                     f'{" (replaces all earlier ones)" if modify else ""}.'),
        click.option("-i", "--ipnet", "ip4_network", default=None,
                     help=f"IPv4 network in CIDR form, e.g. 10.1.1.0/24{clear}."),
        click.option("-i6", "--ipnet6", "ip6_network", default=None,
                     help=f"IPv6 network in CIDR form, /64 or larger, e.g. fd00:1::/64{clear}."),
        click.option("-g", "--gateway", "ip4_gateway", default=None,
                     help=f"IPv4 gateway address of the network{clear}."),
        click.option("-g6", "--gateway6", "ip6_gateway", default=None,
                     help=f"IPv6 gateway address (default: PREFIX::1){clear}."),
        click.option("--dhcp/--no-dhcp", "dhcp4", default=None if modify else False,
                     help="Serve IPv4 DHCP on the network (DHCPv6 follows --ipnet6)."),
        click.option("-s", "--dhcp-start", "dhcp4_start", default=None,
                     help="First address of the IPv4 DHCP range."),
        click.option("-e", "--dhcp-end", "dhcp4_end", default=None,
                     help="Last address of the IPv4 DHCP range."),
    ]

    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


@click.group(name="network", cls=PvcGroup)
def network_group() -> None:
    """Manage the client networks of a PVC cluster: VXLAN (managed) and VLAN (bridged)
    networks, their DHCP reservations and firewall ACLs, and SR-IOV devices."""


@network_group.command(name="add")
@click.argument("vni", type=VNI)
@click.option("-d", "--description", "description", required=True,
              help="Description of the network: unique, without whitespace.")
@click.option("-p", "--type", "nettype", required=True, type=click.Choice(NETWORK_TYPES),
              help="managed: a VXLAN that PVC routes and serves (DHCP, DNS, firewall); "
              "bridged: a plain VLAN, where the options below are unused.")
@_settings_options(modify=False)
@pass_state
def network_add(state: CliState, /, vni: int, description: str, nettype: str,
                **settings: Any) -> None:
    """Add a client network with the identifier VNI (the VXLAN ID, or the VLAN ID of a
    bridged network).

    \b
    Examples:
      pvc network add 101 -d office-vlan -p bridged
      pvc network add 1001 -d web -p managed -n web.local -i 10.1.1.0/24 -g 10.1.1.1 \\
          --dhcp --dhcp-start 10.1.1.100 --dhcp-end 10.1.1.199
    """
    if settings["mtu"] == "":
        settings["mtu"] = None  # the device's MTU: simply not set
    echo(network_api(state).network_add(vni, description, nettype, **settings))


@network_group.command(name="modify")
@click.argument("vni", type=VNI)
@click.option("-d", "--description", "description", default=None,
              help="New description of the network: unique, without whitespace.")
@_settings_options(modify=True)
@pass_state
def network_modify(state: CliState, /, vni: int, **settings: Any) -> None:
    """Change settings of the network VNI: only the options given are changed.

    \b
    Example:
      pvc network modify 1001 --gateway 10.1.1.1 --dhcp
    """
    if not settings["name_servers"]:
        settings["name_servers"] = None
    if all(value is None for value in settings.values()):
        raise click.UsageError("Give at least one setting to change.")
    echo(network_api(state).network_modify(vni, **settings))


@network_group.command(name="remove")
@click.argument("vni", type=VNI)
@click.option("--force", "force", is_flag=True, default=False,
              help="Remove the network even while VMs are attached to it.")
@YES
@pass_state
def network_remove(state: CliState, vni: int, force: bool, yes: bool) -> None:
    """Remove the network VNI.

    Without --force, the API refuses while VMs still have an interface on it.
    """
    if confirm(f"Remove network {vni}", yes):
        echo(network_api(state).network_remove(vni, force))


@network_group.command(name="info")
@click.argument("vni", type=VNI)
@click.option("-l", "--long", "long", is_flag=True, default=False,
              help="Also show the DHCP leases and reservations, and the firewall ACLs.")
@format_option(["pretty", "long", "json", "json-pretty"])
@pass_state
def network_info(state: CliState, vni: int, long: bool, output_format: str) -> None:
    """Show the settings of the network VNI.

    \b
    Formats: "pretty", "long" (like --long), "json", "json-pretty" (the network object
    as the API returns it).
    """
    api = network_api(state)
    network = api.network_info(vni)
    long = long or output_format == "long"
    if not long or output_format.startswith("json") or not format_network.is_managed(network):
        emit(network, output_format, format_network.info_lines)
        return
    leases = of_network(api, vni, lambda: api.lease_list(vni))
    acls = of_network(api, vni, lambda: api.acl_list(vni))
    emit(network, "pretty", lambda data: format_network.info_lines(data, leases, acls))


@network_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(LIST_FORMATS)
@pass_state
def network_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List the client networks, optionally only those whose VNI or description matches
    the regular expression LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (VNIs, one per line), "json", "json-pretty".
    """
    api = network_api(state)
    emit(or_empty(lambda: api.network_list(limit)), output_format,
         format_network.list_pretty, {"raw": format_network.list_raw})


for _command in (dhcp_group, acl_group, sriov_group):
    network_group.add_command(_command)
