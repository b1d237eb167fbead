"""`pvc network acl`: add, remove and list the firewall rules of a managed network.

A rule is a literal nftables rule fragment in the network's inbound or outbound chain,
named by its (unique) description and placed by its order. Networks allow everything by
default, so deny rules belong at the end.
"""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.network.common import LIST_FORMATS, VNI, YES, network_api, of_network
from pvc.cli.network.tables import acl_raw, acl_table
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option


def _direction(inbound: bool | None) -> str | None:
    return None if inbound is None else "in" if inbound else "out"


@click.group(name="acl", cls=PvcGroup)
def acl_group() -> None:
    """Manage the firewall ACLs (nftables rules) of a managed network."""


@acl_group.command(name="add")
@click.argument("vni", type=VNI)
@click.option("--in/--out", "inbound", default=True, show_default=True,
              help="The chain of the rule: traffic into or out of the network.")
@click.option("-d", "--description", "description", required=True,
              help="Name of the rule: unique in the network, without whitespace.")
@click.option("-r", "--rule", "rule", required=True,
              help='The nftables rule, e.g. "tcp dport 22 ct state new accept".')
@click.option("-o", "--order", "order", type=click.IntRange(min=0), default=None,
              help="Position of the rule in its chain (see `acl list`); the rule there and "
              "the ones after it move down. Default: after the last one.")
@pass_state
def acl_add(state: CliState, vni: int, inbound: bool, description: str, rule: str,
            order: int | None) -> None:
    """Add a firewall rule to the network VNI.

    \b
    Example:
      pvc network acl add 1001 --in -d ssh-in -r "tcp dport 22 ct state new accept" -o 3
    """
    direction = "in" if inbound else "out"
    echo(network_api(state).acl_add(vni, description, rule, direction, order))


@acl_group.command(name="remove")
@click.argument("vni", type=VNI)
@click.argument("description")
@YES
@pass_state
def acl_remove(state: CliState, vni: int, description: str, yes: bool) -> None:
    """Remove the firewall rule DESCRIPTION from the network VNI."""
    if confirm(f'Remove firewall rule "{description}" from network {vni}', yes):
        echo(network_api(state).acl_remove(vni, description))


@acl_group.command(name="list")
@click.argument("vni", type=VNI)
@click.argument("limit", required=False, default=None)
@click.option("--in/--out", "inbound", default=None,
              help="Only the inbound or only the outbound rules.")
@format_option(LIST_FORMATS)
@pass_state
def acl_list(state: CliState, vni: int, limit: str | None, inbound: bool | None,
             output_format: str) -> None:
    """List the firewall rules of the network VNI, optionally only those whose
    description matches the regular expression LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (DIRECTION|ORDER|RULE lines), "json",
    "json-pretty".
    """
    api = network_api(state)
    acls = of_network(api, vni, lambda: api.acl_list(vni, limit, _direction(inbound)))
    emit(acls, output_format, acl_table, {"raw": acl_raw})
