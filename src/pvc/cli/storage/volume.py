"""`pvc storage volume`: add, resize, rename, clone, remove, scan, upload, list, and the
`volume snapshot` sub-group."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option, info
from pvc.cli.storage import format as format_storage
from pvc.cli.storage.common import LIST_FORMATS, YES, storage_api
from pvc.cli.storage.snapshot import snapshot_group
from pvc.client.storage.api import IMAGE_FORMATS
from pvc.common.errors import InvalidArgument

FORCE = click.option(
    "-f", "--force", "force", is_flag=True, default=False,
    help="Go ahead even if the pool would be over 80% full.")


@click.group(name="volume", cls=PvcGroup)
def volume_group() -> None:
    """Manage the RBD volumes (disk images) of the Ceph cluster."""


@volume_group.command(name="add")
@click.argument("pool")
@click.argument("name")
@click.argument("size")
@FORCE
@pass_state
def volume_add(state: CliState, pool: str, name: str, size: str, force: bool) -> None:
    """Add a new RBD volume NAME of SIZE to POOL.

    SIZE has a binary unit: 512M, 20G, 1.5T (B, K, M, G, T, P).
    """
    echo(storage_api(state).volume_add(pool, name, size, force))


@volume_group.command(name="resize")
@click.argument("pool")
@click.argument("name")
@click.argument("size")
@FORCE
@pass_state
def volume_resize(state: CliState, pool: str, name: str, size: str, force: bool) -> None:
    """Grow the RBD volume NAME in POOL to SIZE (volumes cannot shrink).

    SIZE has a binary unit: 512M, 20G, 1.5T (B, K, M, G, T, P). A running VM using the
    volume sees the new size at once.
    """
    echo(storage_api(state).volume_resize(pool, name, size, force))


@volume_group.command(name="rename")
@click.argument("pool")
@click.argument("name")
@click.argument("new_name")
@pass_state
def volume_rename(state: CliState, pool: str, name: str, new_name: str) -> None:
    """Rename the RBD volume NAME in POOL to NEW_NAME."""
    echo(storage_api(state).volume_rename(pool, name, new_name))


@volume_group.command(name="clone")
@click.argument("pool")
@click.argument("name")
@click.argument("new_name")
@FORCE
@pass_state
def volume_clone(state: CliState, pool: str, name: str, new_name: str, force: bool) -> None:
    """Copy the RBD volume NAME in POOL to a new volume NEW_NAME in the same pool."""
    echo(storage_api(state).volume_clone(pool, name, new_name, force))


@volume_group.command(name="remove")
@click.argument("pool")
@click.argument("name")
@YES
@pass_state
def volume_remove(state: CliState, pool: str, name: str, yes: bool) -> None:
    """Remove the RBD volume NAME and its snapshots from POOL. ITS DATA IS LOST."""
    if confirm(f'Remove volume "{name}" from pool "{pool}"', yes):
        echo(storage_api(state).volume_remove(pool, name))


@volume_group.command(name="scan")
@click.argument("pool")
@click.argument("name")
@pass_state
def volume_scan(state: CliState, pool: str, name: str) -> None:
    """Adopt the RBD image NAME of POOL, created outside PVC, and read its statistics."""
    echo(storage_api(state).volume_scan(pool, name))


@volume_group.command(name="upload")
@click.argument("pool")
@click.argument("name")
@click.argument("image_file", type=click.Path(exists=True, dir_okay=False, readable=True,
                                               path_type=Path))
@click.option("-f", "--format", "--image-format", "image_format",
              type=click.Choice(IMAGE_FORMATS), default="raw", show_default=True,
              help="The format of IMAGE_FILE; other formats than raw are converted.")
@pass_state
def volume_upload(state: CliState, pool: str, name: str, image_file: Path,
                  image_format: str) -> None:
    """Write the disk image IMAGE_FILE into the existing RBD volume NAME of POOL.

    The volume must be at least as large as the image (for raw images, the file).
    """
    api = storage_api(state)
    try:
        image = image_file.open("rb")
    except OSError as exc:
        raise InvalidArgument(f"Cannot read {image_file}: {exc.strerror}") from exc
    with image:
        size = image_file.stat().st_size
        if state.quiet:
            message = api.volume_upload(pool, name, image, image_format, file_size=size,
                                        filename=image_file.name)
        else:
            with click.progressbar(length=size, label=f"Uploading {image_file.name}",
                                   file=sys.stderr) as bar:
                message = api.volume_upload(pool, name, image, image_format, file_size=size,
                                            filename=image_file.name, progress=bar.update)
            info("")
    echo(message)


@volume_group.command(name="list")
@click.argument("limit", required=False, default=None)
@click.option("-p", "--pool", "pool", default=None, help="Only volumes in this pool.")
@format_option(LIST_FORMATS)
@pass_state
def volume_list(state: CliState, limit: str | None, pool: str | None,
                output_format: str) -> None:
    """List the RBD volumes, optionally only those whose name matches LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (POOL/NAME, one per line), "json", "json-pretty".
    """
    emit(storage_api(state).volume_list(limit, pool), output_format,
         format_storage.volume_list_pretty, {"raw": format_storage.volume_list_raw})


volume_group.add_command(snapshot_group)
