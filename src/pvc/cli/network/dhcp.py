"""`pvc network dhcp`: add, remove and list the static DHCP reservations (and the
leases) of a managed network."""

from __future__ import annotations

import ipaddress
import re

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.network.common import LIST_FORMATS, VNI, YES, network_api, of_network
from pvc.cli.network.tables import lease_raw, lease_table
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", re.IGNORECASE)
ORDER = "the arguments are VNI IPADDR HOSTNAME MACADDR"


def _mac(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not MAC.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not a MAC address like 52:54:00:12:34:56 "
                                 f"({ORDER})", ctx, param)
    return value


def _ipv4(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an IPv4 address ({ORDER})", ctx,
                                 param) from None
    return value


@click.group(name="dhcp", cls=PvcGroup)
def dhcp_group() -> None:
    """Manage the IPv4 DHCP leases and static reservations of a managed network."""


@dhcp_group.command(name="add")
@click.argument("vni", type=VNI)
@click.argument("ipaddr", callback=_ipv4)
@click.argument("hostname")
@click.argument("macaddr", callback=_mac)
@pass_state
def dhcp_add(state: CliState, vni: int, ipaddr: str, hostname: str, macaddr: str) -> None:
    """Reserve the IPv4 address IPADDR, with the name HOSTNAME, for the MAC address
    MACADDR in the network VNI.

    \b
    Example:
      pvc network dhcp add 1001 10.1.1.20 web1 52:54:00:12:34:56
    """
    echo(network_api(state).reservation_add(vni, macaddr, ipaddr, hostname))


@dhcp_group.command(name="remove")
@click.argument("vni", type=VNI)
@click.argument("macaddr")
@YES
@pass_state
def dhcp_remove(state: CliState, vni: int, macaddr: str, yes: bool) -> None:
    """Remove the static DHCP reservation of MACADDR from the network VNI."""
    if confirm(f"Remove the DHCP reservation of {macaddr} from network {vni}", yes):
        echo(network_api(state).reservation_remove(vni, macaddr))


@dhcp_group.command(name="list")
@click.argument("vni", type=VNI)
@click.argument("limit", required=False, default=None)
@click.option("-s", "--static", "static", is_flag=True, default=False,
              help="Only the static reservations.")
@format_option(LIST_FORMATS)
@pass_state
def dhcp_list(state: CliState, vni: int, limit: str | None, static: bool,
              output_format: str) -> None:
    """List the DHCP leases and static reservations of the network VNI, optionally only
    those matching the regular expression LIMIT. Reservations show "static" as their
    timestamp; leases show when they expire.

    \b
    Formats: "pretty" (a table), "raw" (MAC|IP|HOSTNAME lines), "json", "json-pretty".
    """
    api = network_api(state)
    leases = of_network(api, vni, lambda: api.lease_list(vni, limit, static))
    what = "static DHCP reservations" if static else "DHCP leases or reservations"
    emit(leases, output_format, lambda data: lease_table(data, f"No {what} found."),
         {"raw": lease_raw})
