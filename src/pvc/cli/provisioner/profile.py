"""`pvc provisioner profile`: what a VM is made from."""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.cli.render import NOTE, Cell, Column, cell, table
from pvc.client.provisioner.api import ProfileApi
from pvc.common.errors import NotFound

FORMATS = ["pretty", "raw", "json", "json-pretty"]
COLUMNS = (Column("Name"), Column("ID", right=True), Column("Type"), Column("System"),
           Column("Network"), Column("Storage"), Column("Userdata"), Column("Script"),
           Column("OVA"), Column("Arguments"))
GROUPS = (("Profiles", 3), ("Templates", 3), ("Data", 4))


@click.group(name="profile", cls=PvcGroup)
def profile_group() -> None:
    """Manage profiles: the templates, userdata, script or OVA, and arguments of VMs."""


def _text(value: Any) -> Cell:
    return cell(value) if value not in (None, "", "None") else cell("-", NOTE)


def _pretty(data: Any) -> list[Text]:
    rows = [p for p in (data if isinstance(data, list) else [data]) if isinstance(p, dict)]
    if not rows:
        return [Text("No profiles found.")]
    return table(COLUMNS, [[
        cell(p.get("name"), "bold"), cell(p.get("id")), _text(p.get("type")),
        _text(p.get("system_template")), _text(p.get("network_template")),
        _text(p.get("storage_template")), _text(p.get("userdata")), _text(p.get("script")),
        _text(p.get("ova")), _text(", ".join(p.get("arguments") or []))]
        for p in sorted(rows, key=lambda p: str(p.get("name")))], GROUPS)


def _raw(data: Any) -> str:
    rows = data if isinstance(data, list) else [data]
    return "\n".join(str(p.get("name")) for p in rows if isinstance(p, dict))


@profile_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(FORMATS)
@pass_state
def profile_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List the profiles, optionally only those whose name matches the regular expression
    LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (names, one per line), "json", "json-pretty".
    """
    try:
        found = ProfileApi(state.api()).profile_list(limit)
    except NotFound:
        found = []
    emit(found, output_format, _pretty, {"raw": _raw})


@profile_group.command(name="add")
@click.argument("name")
@click.option("-p", "--profile-type", "profile_type", type=click.Choice(["provisioner", "ova"]),
              default="provisioner", show_default=True, help="How VMs are made from it.")
@click.option("-s", "--system-template", "system_template", required=True,
              help="The system template (vCPUs, memory, consoles, placement).")
@click.option("-n", "--network-template", "network_template", default=None,
              help="The network template (the VMs' NICs).")
@click.option("-t", "--storage-template", "storage_template", default=None,
              help="The storage template (the VMs' disks).")
@click.option("-u", "--userdata", "userdata", default=None,
              help="The cloud-init userdata served to the VMs.")
@click.option("-x", "--script", "script", default=None,
              help="The install script (provisioner profiles).")
@click.option("-o", "--ova", "ova", default=None, help="The OVA image (ova profiles).")
@click.option("-a", "--script-arg", "arguments", multiple=True,
              help="A script argument key=value; repeat for several.")
@pass_state
def profile_add(state: CliState, name: str, profile_type: str, system_template: str,
                network_template: str | None, storage_template: str | None,
                userdata: str | None, script: str | None, ova: str | None,
                arguments: tuple[str, ...]) -> None:
    """Add a profile NAME."""
    echo(ProfileApi(state.api()).profile_add(
        name, profile_type, system_template=system_template, script=script,
        network_template=network_template, storage_template=storage_template,
        userdata=userdata, ova=ova, arguments=list(arguments)))


@profile_group.command(name="modify")
@click.argument("name")
@click.option("-s", "--system-template", "system_template", default=None,
              help="Another system template.")
@click.option("-n", "--network-template", "network_template", default=None,
              help='Another network template ("" for none).')
@click.option("-t", "--storage-template", "storage_template", default=None,
              help='Another storage template ("" for none).')
@click.option("-u", "--userdata", "userdata", default=None, help='Other userdata ("" for none).')
@click.option("-x", "--script", "script", default=None, help="Another install script.")
@click.option("-d", "--delete-arguments", "clear", is_flag=True, default=False,
              help="Remove every script argument.")
@click.option("-a", "--script-arg", "arguments", multiple=True,
              help="A script argument key=value (replaces all of them); repeat for several.")
@pass_state
def profile_modify(state: CliState, name: str, system_template: str | None,
                   network_template: str | None, storage_template: str | None,
                   userdata: str | None, script: str | None, clear: bool,
                   arguments: tuple[str, ...]) -> None:
    """Change profile NAME: only the options given."""
    args: list[str] | None = list(arguments) if arguments else None
    if clear:
        args = [*(args or [])] or [""]
    echo(ProfileApi(state.api()).profile_modify(
        name, system_template=system_template, script=script,
        network_template=network_template, storage_template=storage_template,
        userdata=userdata, arguments=args))


@profile_group.command(name="remove")
@click.argument("name")
@click.option("-y", "--yes", "yes", is_flag=True, default=False,
              help="Pre-confirm this dangerous action.")
@pass_state
def profile_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove profile NAME."""
    if not confirm(f"Remove profile {name}", yes):
        return
    echo(ProfileApi(state.api()).profile_remove(name))
