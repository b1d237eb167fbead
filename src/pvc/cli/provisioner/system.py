"""`pvc provisioner template system`: a VM's vCPUs, memory, consoles and placement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.text import Text

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.cli.render import GOOD, NOTE, Cell, Column, cell, table
from pvc.client.provisioner.api import ProvisionerApi
from pvc.common.errors import NotFound
from pvc.common.vm import MIGRATION_METHODS, SELECTORS

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ["pretty", "raw", "json", "json-pretty"]
COLUMNS = (Column("Name"), Column("ID", right=True), Column("vCPUs", right=True),
           Column("vRAM [MB]", right=True), Column("Serial"), Column("VNC"),
           Column("VNC bind"), Column("Node limit"), Column("Selector"), Column("Autostart"),
           Column("Migration"), Column("Max downtime", right=True))
GROUPS = (("System templates", 4), ("Consoles", 3), ("Placement and migration", 5))


@click.group(name="system", cls=PvcGroup)
def system_group() -> None:
    """Manage system templates: vCPUs, memory, consoles, placement and migration."""


def _flag(value: Any) -> Cell:
    return cell("yes", GOOD) if value is True or str(value) == "True" else cell("no", NOTE)


def _text(value: Any) -> Cell:
    return cell(value) if value not in (None, "", "None") else cell("-", NOTE)


def _pretty(data: Any) -> list[Text]:
    rows = [t for t in (data if isinstance(data, list) else [data]) if isinstance(t, dict)]
    if not rows:
        return [Text("No system templates found.")]
    return table(COLUMNS, [[
        cell(t.get("name"), "bold"), cell(t.get("id")), cell(t.get("vcpu_count")),
        cell(t.get("vram_mb")), _flag(t.get("serial")), _flag(t.get("vnc")),
        _text(t.get("vnc_bind")), _text(t.get("node_limit")), _text(t.get("node_selector")),
        _flag(t.get("node_autostart")), _text(t.get("migration_method")),
        cell(t.get("migration_max_downtime"))] for t in sorted(rows, key=lambda t: str(
            t.get("name")))], GROUPS)


def _raw(data: Any) -> str:
    rows = data if isinstance(data, list) else [data]
    return "\n".join(str(t.get("name")) for t in rows if isinstance(t, dict))


@system_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(FORMATS)
@pass_state
def system_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List the system templates, optionally only those whose name matches the regular
    expression LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (names, one per line), "json", "json-pretty".
    """
    api = ProvisionerApi(state.api())
    try:
        found = api.system_template_list(limit)
    except NotFound:
        found = []
    emit(found, output_format, _pretty, {"raw": _raw})


def _placement_options(modify: bool) -> Callable[[F], F]:
    keep = " (unchanged when left out)" if modify else ""
    options = [
        click.option("-b", "--vnc-bind", "vnc_bind", default=None,
                     help=f"Address VNC listens on, e.g. 0.0.0.0{keep}."),
        click.option("--node-limit", "node_limit", default=None,
                     help=f"Comma-separated nodes the VMs may run on{keep}."),
        click.option("--node-selector", "node_selector", default=None,
                     type=click.Choice([*SELECTORS, "none"]),
                     help=f"How a node is chosen for the VMs (none: the cluster's){keep}."),
        click.option("--migration-method", "migration_method", default=None,
                     type=click.Choice(list(MIGRATION_METHODS)),
                     help=f"How the VMs move off a node that is flushed{keep}."),
        click.option("--migration-max-downtime", "migration_max_downtime", default=None,
                     type=click.IntRange(1, 60000),
                     help=f"Longest pause of a live migration, ms (default 300){keep}."),
    ]

    def apply(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function
    return apply


@system_group.command(name="add")
@click.argument("name")
@click.option("-u", "--vcpus", "vcpus", type=click.IntRange(1), required=True,
              help="vCPUs of the VMs.")
@click.option("-m", "--vram", "vram", type=click.IntRange(1), required=True,
              help="Memory of the VMs, in MB.")
@click.option("-s", "--serial", "serial", is_flag=True, default=False,
              help="Give the VMs a serial console (needed by `pvc vm log`).")
@click.option("-n", "--vnc", "vnc", is_flag=True, default=False,
              help="Give the VMs a VNC console.")
@click.option("--node-autostart", "node_autostart", is_flag=True, default=False,
              help="Start the VMs when their node is readied after a flush.")
@_placement_options(modify=False)
@pass_state
def system_add(state: CliState, /, name: str, **settings: Any) -> None:
    """Add a system template NAME."""
    echo(ProvisionerApi(state.api()).system_template_add(name, **settings))


@system_group.command(name="modify")
@click.argument("name")
@click.option("-u", "--vcpus", "vcpus", type=click.IntRange(1), default=None,
              help="vCPUs of the VMs.")
@click.option("-m", "--vram", "vram", type=click.IntRange(1), default=None,
              help="Memory of the VMs, in MB.")
@click.option("-s/-S", "--serial/--no-serial", "serial", default=None,
              help="A serial console, or none.")
@click.option("-n/-N", "--vnc/--no-vnc", "vnc", default=None, help="A VNC console, or none.")
@click.option("--node-autostart/--no-node-autostart", "node_autostart", default=None,
              help="Start the VMs when their node is readied, or not.")
@_placement_options(modify=True)
@pass_state
def system_modify(state: CliState, /, name: str, **settings: Any) -> None:
    """Change system template NAME: only the options given."""
    echo(ProvisionerApi(state.api()).system_template_modify(name, **settings))


@system_group.command(name="remove")
@click.argument("name")
@click.option("-y", "--yes", "yes", is_flag=True, default=False,
              help="Pre-confirm this dangerous action.")
@pass_state
def system_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove system template NAME (refused while a profile uses it)."""
    if not confirm(f"Remove system template {name}", yes):
        return
    echo(ProvisionerApi(state.api()).system_template_remove(name))
