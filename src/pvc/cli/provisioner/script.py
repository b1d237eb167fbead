"""`pvc provisioner script`: the Python scripts that build a profile's VMs."""

from __future__ import annotations

from typing import IO

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.cli.provisioner.userdata import (
    FILENAME,
    FORMATS,
    FULL,
    YES,
    documents_table,
    names_raw,
    print_document,
    read_document,
)
from pvc.client.provisioner.documents import ScriptApi
from pvc.common.errors import NotFound


@click.group(name="script", cls=PvcGroup)
def script_group() -> None:
    """Manage provisioner scripts: Python that defines the class VMBuilderScript."""


@script_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(FORMATS)
@FULL
@pass_state
def script_list(state: CliState, limit: str | None, output_format: str, full: bool) -> None:
    """List the provisioner scripts, optionally only those whose name matches the regular
    expression LIMIT.

    \b
    Formats: "pretty" (a table; --full adds each script), "raw" (names, one per line),
    "json", "json-pretty".
    """
    try:
        found = ScriptApi(state.api()).listing(limit)
    except NotFound:
        found = []
    emit(found, output_format,
         lambda data: documents_table(data, "script", full, "No scripts found."),
         {"raw": names_raw})


@script_group.command(name="show")
@click.argument("name")
@pass_state
def script_show(state: CliState, name: str) -> None:
    """Print script NAME as it is stored."""
    print_document(ScriptApi(state.api()).document(name))


@script_group.command(name="add")
@click.argument("name")
@FILENAME
@pass_state
def script_add(state: CliState, name: str, source: IO[bytes]) -> None:
    """Add script NAME from FILENAME ("-" for stdin).

    The script must compile and define, at module level, the class VMBuilderScript; it
    is checked, not run. At most 1 MiB.
    """
    echo(ScriptApi(state.api()).add(name, read_document(source, "script")))


@script_group.command(name="modify")
@click.argument("name")
@FILENAME
@pass_state
def script_modify(state: CliState, name: str, source: IO[bytes]) -> None:
    """Replace script NAME with FILENAME ("-" for stdin)."""
    echo(ScriptApi(state.api()).modify(name, read_document(source, "script")))


@script_group.command(name="remove")
@click.argument("name")
@YES
@pass_state
def script_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove script NAME (refused while a profile uses it)."""
    if not confirm(f"Remove script {name}", yes):
        return
    echo(ScriptApi(state.api()).remove(name))
