"""`pvc cluster`: status, maintenance on|off, backup, restore, init."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pvc.cli.cluster import format as format_cluster
from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.common.errors import InvalidArgument

_YES = click.option(
    "-y", "--yes", "yes", is_flag=True, default=False, help="Pre-confirm this dangerous action."
)


@click.group(name="cluster", cls=PvcGroup)
def cluster_group() -> None:
    """Manage and view the status of a PVC cluster."""


@cluster_group.command(name="status")
@format_option(["pretty", "short", "json", "json-pretty"])
@pass_state
def cluster_status(state: CliState, output_format: str) -> None:
    """Show the status and health of the cluster.

    \b
    Formats: "pretty" (everything), "short" (health and resources only), "json",
    "json-pretty".
    """
    data = state.api().status()
    emit(data, output_format, format_cluster.status_pretty, {"short": format_cluster.status_short})


@cluster_group.group(name="maintenance", cls=PvcGroup)
def cluster_maintenance() -> None:
    """Turn cluster maintenance mode on or off (health alerts are muted while on)."""


@cluster_maintenance.command(name="on")
@pass_state
def maintenance_on(state: CliState) -> None:
    """Turn maintenance mode on."""
    echo(state.api().set_maintenance(True))


@cluster_maintenance.command(name="off")
@pass_state
def maintenance_off(state: CliState) -> None:
    """Turn maintenance mode off."""
    echo(state.api().set_maintenance(False))


@cluster_group.command(name="backup")
@click.option(
    "-f",
    "--file",
    "filename",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the backup to this file instead of standard output.",
)
@pass_state
def cluster_backup(state: CliState, filename: Path | None) -> None:
    """Dump the cluster's state database as JSON."""
    data = state.api().backup()
    text = json.dumps(data, indent=2)
    if filename is None:
        echo(text)
        return
    try:
        filename.write_text(text + "\n")
    except OSError as exc:
        raise InvalidArgument(f"Cannot write {filename}: {exc.strerror}") from exc
    echo(f'Wrote the cluster backup to "{filename}".')


@cluster_group.command(name="restore")
@click.option(
    "-f",
    "--filename",
    "--file",
    "filename",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    required=True,
    help="The backup file (from `pvc cluster backup`) to restore.",
)
@_YES
@pass_state
def cluster_restore(state: CliState, filename: Path, yes: bool) -> None:
    """Replace ALL cluster state with a backup. Dangerous: current data is lost.

    Stop the node daemons before restoring into a running cluster.
    """
    try:
        text = filename.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"Cannot read {filename}: {exc}") from exc
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{filename} is not a JSON cluster backup: {exc}") from exc
    api = state.api()
    if not confirm(f"Replace all data of the cluster with the backup in {filename}", yes):
        return
    echo(api.restore(text))


@cluster_group.command(name="init")
@click.option(
    "-o",
    "--overwrite",
    "overwrite",
    is_flag=True,
    default=False,
    help="Delete any existing cluster data first (DANGEROUS).",
)
@_YES
@pass_state
def cluster_init(state: CliState, overwrite: bool, yes: bool) -> None:
    """Initialize a new cluster's state database.

    With -o/--overwrite, ALL existing cluster data is deleted first.
    """
    api = state.api()
    what = "Delete all cluster data and initialize" if overwrite else "Initialize"
    if not confirm(f"{what} the cluster", yes):
        return
    echo(api.initialize(overwrite))
