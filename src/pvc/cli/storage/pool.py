"""`pvc storage pool`: add, remove, set-pgs, list."""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.cli.storage import format as format_storage
from pvc.cli.storage.common import LIST_FORMATS, YES, storage_api
from pvc.client.storage.api import TIERS


@click.group(name="pool", cls=PvcGroup)
def pool_group() -> None:
    """Manage the RBD pools of the Ceph cluster."""


@pool_group.command(name="add")
@click.argument("name")
@click.argument("pgs", type=click.IntRange(min=1))
@click.option("-t", "--tier", "tier", type=click.Choice(TIERS), default="default",
              show_default=True,
              help="The class of OSD devices to place the pool on (default: any).")
@click.option("--replcfg", "replcfg", default="copies=3,mincopies=2", show_default=True,
              help="The replication: copies of each object, and copies needed for writes.")
@pass_state
def pool_add(state: CliState, name: str, pgs: int, tier: str, replcfg: str) -> None:
    """Add a new RBD pool NAME with PGS placement groups (a power of 2, e.g. 128)."""
    echo(storage_api(state).pool_add(name, pgs, replcfg, tier))


@pool_group.command(name="remove")
@click.argument("name")
@YES
@pass_state
def pool_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove the RBD pool NAME, with every volume and snapshot in it. ALL ITS DATA IS LOST."""
    if confirm(f'Remove RBD pool "{name}" and delete all its volumes and data', yes):
        echo(storage_api(state).pool_remove(name))


@pool_group.command(name="set-pgs")
@click.argument("name")
@click.argument("pgs", type=click.IntRange(min=1))
@pass_state
def pool_set_pgs(state: CliState, name: str, pgs: int) -> None:
    """Set the number of placement groups of pool NAME to PGS (a power of 2)."""
    echo(storage_api(state).pool_set_pgs(name, pgs))


@pool_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(LIST_FORMATS)
@pass_state
def pool_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List the RBD pools, optionally only those whose name matches LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (names, one per line), "json", "json-pretty".
    """
    emit(storage_api(state).pool_list(limit), output_format, format_storage.pool_list_pretty,
         {"raw": format_storage.pool_list_raw})
