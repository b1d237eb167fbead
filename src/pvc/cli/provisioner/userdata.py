"""`pvc provisioner userdata`: the cloud-init documents that profiles give their VMs.

The listing, reading and printing helpers here serve `pvc provisioner script` too: both
are named text documents.
"""

from __future__ import annotations

from typing import IO, Any

import click
from rich.text import Text

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.cli.render import NOTE, Column, cell, table
from pvc.client.provisioner.documents import UserdataApi
from pvc.common.errors import InvalidArgument, NotFound

FORMATS = ["pretty", "raw", "json", "json-pretty"]


# -- shared with `pvc provisioner script` ---------------------------------------------------
def documents_table(data: Any, field: str, full: bool, none_found: str) -> list[Text]:
    """A table of the documents' names and IDs; with `full` also each document, its lines
    continuing under one another."""
    rows = [d for d in (data if isinstance(data, list) else [data]) if isinstance(d, dict)]
    if not rows:
        return [Text(none_found)]
    columns = [Column("Name"), Column("ID", right=True)]
    if full:
        columns.append(Column("Document"))
    lines: list[list[str | Text]] = []
    for d in sorted(rows, key=lambda d: str(d.get("name"))):
        row: list[str | Text] = [cell(d.get("name"), "bold"), cell(d.get("id"))]
        if not full:
            lines.append(row)
            continue
        text = d.get(field)
        body = str(text).splitlines() if text else []
        lines.append([*row, cell(body[0]) if body else cell("(empty)", NOTE)])
        lines.extend(["", "", cell(more)] for more in body[1:])
    return table(columns, lines)


def names_raw(data: Any) -> str:
    rows = data if isinstance(data, list) else [data]
    return "\n".join(str(d.get("name")) for d in rows if isinstance(d, dict))


def read_document(source: IO[bytes], what: str) -> str:
    """The text of FILENAME (or stdin for `-`), byte for byte, as UTF-8."""
    raw = source.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"The {what} file is not UTF-8 text ({exc})") from None


def print_document(text: str) -> None:
    """A document as it is (a final newline added only when it has none)."""
    if text:
        click.echo(text, nl=not text.endswith("\n"))


FILENAME = click.argument("source", metavar="FILENAME", type=click.File("rb"))
YES = click.option("-y", "--yes", "yes", is_flag=True, default=False,
                   help="Pre-confirm this dangerous action.")
FULL = click.option("--full", "full", is_flag=True, default=False,
                    help="Show each document too (pretty format).")


# -- the commands ------------------------------------------------------------------------------
@click.group(name="userdata", cls=PvcGroup)
def userdata_group() -> None:
    """Manage userdata: the cloud-init documents that profiles give their VMs."""


@userdata_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(FORMATS)
@FULL
@pass_state
def userdata_list(state: CliState, limit: str | None, output_format: str, full: bool) -> None:
    """List the userdata documents, optionally only those whose name matches the regular
    expression LIMIT.

    \b
    Formats: "pretty" (a table; --full adds each document), "raw" (names, one per line),
    "json", "json-pretty".
    """
    try:
        found = UserdataApi(state.api()).listing(limit)
    except NotFound:
        found = []
    emit(found, output_format,
         lambda data: documents_table(data, "userdata", full, "No userdata found."),
         {"raw": names_raw})


@userdata_group.command(name="show")
@click.argument("name")
@pass_state
def userdata_show(state: CliState, name: str) -> None:
    """Print userdata NAME as it is stored."""
    print_document(UserdataApi(state.api()).document(name))


@userdata_group.command(name="add")
@click.argument("name")
@FILENAME
@pass_state
def userdata_add(state: CliState, name: str, source: IO[bytes]) -> None:
    """Add userdata NAME from FILENAME ("-" for stdin).

    The document must be empty, #cloud-config YAML, a script (#!), #include,
    #cloud-boothook, or a MIME multipart document of these; at most 1 MiB.
    """
    echo(UserdataApi(state.api()).add(name, read_document(source, "userdata")))


@userdata_group.command(name="modify")
@click.argument("name")
@FILENAME
@pass_state
def userdata_modify(state: CliState, name: str, source: IO[bytes]) -> None:
    """Replace userdata NAME with FILENAME ("-" for stdin)."""
    echo(UserdataApi(state.api()).modify(name, read_document(source, "userdata")))


@userdata_group.command(name="remove")
@click.argument("name")
@YES
@pass_state
def userdata_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove userdata NAME (refused while a profile uses it)."""
    if not confirm(f"Remove userdata {name}", yes):
        return
    echo(UserdataApi(state.api()).remove(name))
