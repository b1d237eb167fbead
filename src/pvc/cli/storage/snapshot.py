"""`pvc storage volume snapshot`: add, rename, rollback, remove, list."""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.cli.storage import format as format_storage
from pvc.cli.storage.common import LIST_FORMATS, YES, storage_api


@click.group(name="snapshot", cls=PvcGroup)
def snapshot_group() -> None:
    """Manage the snapshots of RBD volumes."""


@snapshot_group.command(name="add")
@click.argument("pool")
@click.argument("volume")
@click.argument("name")
@pass_state
def snapshot_add(state: CliState, pool: str, volume: str, name: str) -> None:
    """Take a snapshot NAME of the RBD volume VOLUME in POOL."""
    echo(storage_api(state).snapshot_add(pool, volume, name))


@snapshot_group.command(name="rename")
@click.argument("pool")
@click.argument("volume")
@click.argument("name")
@click.argument("new_name")
@pass_state
def snapshot_rename(state: CliState, pool: str, volume: str, name: str, new_name: str) -> None:
    """Rename the snapshot NAME of VOLUME in POOL to NEW_NAME."""
    echo(storage_api(state).snapshot_rename(pool, volume, name, new_name))


@snapshot_group.command(name="rollback")
@click.argument("pool")
@click.argument("volume")
@click.argument("name")
@YES
@pass_state
def snapshot_rollback(state: CliState, pool: str, volume: str, name: str, yes: bool) -> None:
    """Roll VOLUME in POOL back to its snapshot NAME: later writes are LOST.

    The volume must not be in use by a running VM.
    """
    if confirm(f'Roll back volume "{pool}/{volume}" to snapshot "{name}" and lose all data '
               "written since", yes):
        echo(storage_api(state).snapshot_rollback(pool, volume, name))


@snapshot_group.command(name="remove")
@click.argument("pool")
@click.argument("volume")
@click.argument("name")
@YES
@pass_state
def snapshot_remove(state: CliState, pool: str, volume: str, name: str, yes: bool) -> None:
    """Remove the snapshot NAME of VOLUME in POOL."""
    if confirm(f'Remove snapshot "{name}" of volume "{pool}/{volume}"', yes):
        echo(storage_api(state).snapshot_remove(pool, volume, name))


@snapshot_group.command(name="list")
@click.argument("limit", required=False, default=None)
@click.option("-p", "--pool", "pool", default=None, help="Only snapshots in this pool.")
@click.option("-o", "--volume", "volume", default=None, help="Only snapshots of this volume.")
@format_option(LIST_FORMATS)
@pass_state
def snapshot_list(state: CliState, limit: str | None, pool: str | None, volume: str | None,
                  output_format: str) -> None:
    """List the volume snapshots, optionally only those whose name matches LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (POOL/VOLUME@NAME, one per line), "json",
    "json-pretty".
    """
    emit(storage_api(state).snapshot_list(limit, pool, volume), output_format,
         format_storage.snapshot_list_pretty, {"raw": format_storage.snapshot_list_raw})
