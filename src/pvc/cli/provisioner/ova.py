"""`pvc provisioner ova`: OVA images, imported to be deployed by their profile."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option, info
from pvc.cli.provisioner.userdata import FORMATS, YES, names_raw
from pvc.cli.render import Column, cell, table
from pvc.client.provisioner.api import OvaApi
from pvc.common.errors import InvalidArgument, NotFound

COLUMNS = (Column("Name"), Column("ID", right=True), Column("Disk"), Column("Size (GB)",
           right=True), Column("Pool"), Column("Volume"), Column("Format"))


@click.group(name="ova", cls=PvcGroup)
def ova_group() -> None:
    """Manage OVA images: their disks become volumes, and a profile of the same name
    deploys them (pvc provisioner create VM NAME)."""


def _pretty(data: Any) -> list[Text]:
    rows = [o for o in (data if isinstance(data, list) else [data]) if isinstance(o, dict)]
    if not rows:
        return [Text("No OVAs found.")]
    return table(COLUMNS, [
        [cell(o.get("name") if i == 0 else "", "bold"), cell(o.get("id") if i == 0 else ""),
         cell(v.get("disk_id")), cell(v.get("disk_size_gb")), cell(v.get("pool")),
         cell(v.get("volume_name")), cell(v.get("volume_format"))]
        for o in sorted(rows, key=lambda o: str(o.get("name")))
        for i, v in enumerate(o.get("volumes") or [{}])])


@ova_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(FORMATS)
@pass_state
def ova_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List the OVA images, optionally only those whose name matches the regular
    expression LIMIT."""
    try:
        found = OvaApi(state.api()).ova_list(limit)
    except NotFound:
        found = []
    emit(found, output_format, _pretty, {"raw": names_raw})


@ova_group.command(name="upload")
@click.argument("name")
@click.argument("filename", type=click.Path(exists=True, dir_okay=False, readable=True,
                                             path_type=Path))
@click.option("-p", "--pool", "pool", required=True,
              help="The pool for the OVA's disk volumes.")
@pass_state
def ova_upload(state: CliState, name: str, filename: Path, pool: str) -> None:
    """Import the OVA archive FILENAME as NAME: its disks into volumes of POOL, with a
    system template and a profile named NAME."""
    try:
        archive = filename.open("rb")
    except OSError as exc:
        raise InvalidArgument(f"Cannot read {filename}: {exc.strerror}") from exc
    api = OvaApi(state.api())
    with archive:
        size = filename.stat().st_size
        if state.quiet:
            message = api.ova_upload(name, pool, archive, size, filename.name)
        else:
            with click.progressbar(length=size, label=f"Uploading {filename.name}",
                                   file=sys.stderr) as bar:
                message = api.ova_upload(name, pool, archive, size, filename.name,
                                         progress=bar.update)
            info("")
    echo(message)


@ova_group.command(name="remove")
@click.argument("name")
@YES
@pass_state
def ova_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove OVA NAME, its volumes, and the system template and profile made with it."""
    if not confirm(f"Remove OVA {name} and its volumes", yes):
        return
    echo(OvaApi(state.api()).ova_remove(name))
