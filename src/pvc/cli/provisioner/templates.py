"""`pvc provisioner template network|storage|list`: the networks and disks of a profile's
VMs, and every template at once."""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.cli.provisioner import system as system_cli
from pvc.cli.render import NOTE, Cell, Column, cell, table
from pvc.client.provisioner.templates import TemplateApi
from pvc.common.errors import NotFound

FORMATS = ["pretty", "raw", "json", "json-pretty"]
FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs", "swap", "vfat")
NETWORK_COLUMNS = (Column("Name"), Column("ID", right=True), Column("MAC template"),
                   Column("VNIs"))
NETWORK_GROUPS = (("Network templates", 2), ("Interfaces", 2))
STORAGE_COLUMNS = (Column("Name"), Column("ID", right=True), Column("Disk"), Column("Pool"),
                   Column("Source volume"), Column("Size [GB]", right=True),
                   Column("Filesystem"), Column("Arguments"), Column("Mountpoint"))
STORAGE_GROUPS = (("Storage templates", 2), ("Disks", 7))
YES = click.option("-y", "--yes", "yes", is_flag=True, default=False,
                   help="Pre-confirm this dangerous action.")


def _rows(data: Any) -> list[dict[str, Any]]:
    rows = [t for t in (data if isinstance(data, list) else [data]) if isinstance(t, dict)]
    return sorted(rows, key=lambda t: str(t.get("name")))


def _text(value: Any) -> Cell:
    return cell(value) if value not in (None, "", "None") else cell("-", NOTE)


def _raw(data: Any) -> str:
    return "\n".join(str(t.get("name")) for t in _rows(data))


def _network_pretty(data: Any) -> list[Text]:
    rows = _rows(data)
    if not rows:
        return [Text("No network templates found.")]
    return table(NETWORK_COLUMNS, [[
        cell(t.get("name"), "bold"), cell(t.get("id")), _text(t.get("mac_template")),
        _text(",".join(str(n.get("vni")) for n in t.get("networks") or []
                       if isinstance(n, dict)))] for t in rows], NETWORK_GROUPS)


def _storage_pretty(data: Any) -> list[Text]:
    rows = _rows(data)
    if not rows:
        return [Text("No storage templates found.")]
    lines: list[list[Cell]] = []
    for t in rows:
        disks = [d for d in t.get("disks") or [] if isinstance(d, dict)]
        lines.append([cell(t.get("name"), "bold"), cell(t.get("id")),
                      *([cell("(no disks)", NOTE)] if not disks else [""]),
                      *([""] * 6)])
        for d in disks:
            lines.append(["", "", cell(d.get("disk_id")), cell(d.get("pool")),
                          _text(d.get("source_volume")), _text(d.get("disk_size_gb")),
                          _text(d.get("filesystem")), _text(d.get("filesystem_args")),
                          _text(d.get("mountpoint"))])
    return table(STORAGE_COLUMNS, lines, STORAGE_GROUPS)


# -- all templates ------------------------------------------------------------------

KINDS = (("system-templates", system_cli._pretty), ("network-templates", _network_pretty),
         ("storage-templates", _storage_pretty))


def _all_pretty(data: Any) -> list[Text]:
    lines: list[Text] = []
    for kind, pretty in KINDS:
        if lines:
            lines.append(Text(""))
        lines.extend(pretty(data.get(kind, []) if isinstance(data, dict) else []))
    return lines


def _all_raw(data: Any) -> str:
    found = data if isinstance(data, dict) else {}
    return "\n".join(name for kind, _ in KINDS if (name := _raw(found.get(kind, []))))


@click.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(FORMATS)
@pass_state
def template_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List every template (system, network and storage), optionally only those whose
    name matches the regular expression LIMIT.

    \b
    Formats: "pretty" (a table per kind), "raw" (names, one per line), "json",
    "json-pretty" (an object of three lists).
    """
    emit(TemplateApi(state.api()).template_list(limit), output_format, _all_pretty,
         {"raw": _all_raw})


# -- network templates --------------------------------------------------------------

@click.group(name="network", cls=PvcGroup)
def network_group() -> None:
    """Manage network templates: the networks of the VMs, in order, and their MACs."""


@network_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(FORMATS)
@pass_state
def network_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List the network templates, optionally only those whose name matches the regular
    expression LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (names, one per line), "json", "json-pretty".
    """
    try:
        found = TemplateApi(state.api()).network_template_list(limit)
    except NotFound:
        found = []
    emit(found, output_format, _network_pretty, {"raw": _raw})


@network_group.command(name="add")
@click.argument("name")
@click.option("-m", "--mac-template", "mac_template", default=None,
              help="MACs of the interfaces, e.g. '{prefix}:{vmid}:{netid}:01': {prefix} is "
                   "52:54:01, {vmid} the number ending the VM's name and {netid} the "
                   "interface's index, each a two-digit hex octet.")
@pass_state
def network_add(state: CliState, name: str, mac_template: str | None) -> None:
    """Add a network template NAME, without networks (add them with `vni add`)."""
    echo(TemplateApi(state.api()).network_template_add(name, mac_template))


@network_group.command(name="remove")
@click.argument("name")
@YES
@pass_state
def network_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove network template NAME (refused while a profile uses it)."""
    if not confirm(f"Remove network template {name}", yes):
        return
    echo(TemplateApi(state.api()).network_template_remove(name))


@network_group.group(name="vni", cls=PvcGroup)
def vni_group() -> None:
    """Manage the networks of a network template (the first added is eth0)."""


@vni_group.command(name="add")
@click.argument("name")
@click.argument("vni", type=click.IntRange(1, 16777215))
@click.option("-d", "--permit-duplicate", "permit_duplicate", is_flag=True, default=False,
              help="Allow a VNI the template already has (a second interface on it).")
@pass_state
def vni_add(state: CliState, name: str, vni: int, permit_duplicate: bool) -> None:
    """Add network VNI to network template NAME, as its next interface."""
    echo(TemplateApi(state.api()).network_template_net_add(name, vni, permit_duplicate))


@vni_group.command(name="remove")
@click.argument("name")
@click.argument("vni", type=click.IntRange(1, 16777215))
@YES
@pass_state
def vni_remove(state: CliState, name: str, vni: int, yes: bool) -> None:
    """Remove network VNI (its first interface) from network template NAME."""
    if not confirm(f"Remove VNI {vni} from network template {name}", yes):
        return
    echo(TemplateApi(state.api()).network_template_net_remove(name, vni))


# -- storage templates --------------------------------------------------------------

@click.group(name="storage", cls=PvcGroup)
def storage_group() -> None:
    """Manage storage templates: the disks of the VMs, their filesystems and mounts."""


@storage_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(FORMATS)
@pass_state
def storage_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List the storage templates and their disks, optionally only the templates whose
    name matches the regular expression LIMIT.

    \b
    Formats: "pretty" (a table, a row per disk), "raw" (names, one per line), "json",
    "json-pretty".
    """
    try:
        found = TemplateApi(state.api()).storage_template_list(limit)
    except NotFound:
        found = []
    emit(found, output_format, _storage_pretty, {"raw": _raw})


@storage_group.command(name="add")
@click.argument("name")
@pass_state
def storage_add(state: CliState, name: str) -> None:
    """Add a storage template NAME, without disks (add them with `disk add`)."""
    echo(TemplateApi(state.api()).storage_template_add(name))


@storage_group.command(name="remove")
@click.argument("name")
@YES
@pass_state
def storage_remove(state: CliState, name: str, yes: bool) -> None:
    """Remove storage template NAME (refused while a profile uses it)."""
    if not confirm(f"Remove storage template {name}", yes):
        return
    echo(TemplateApi(state.api()).storage_template_remove(name))


@storage_group.group(name="disk", cls=PvcGroup)
def disk_group() -> None:
    """Manage the disks of a storage template."""


@disk_group.command(name="add")
@click.argument("name")
@click.argument("disk_id")
@click.option("-p", "--pool", "pool", required=True, help="The pool of the disk's volume.")
@click.option("-s", "--size", "size", type=click.IntRange(1, 65536), default=None,
              help="A new volume of this size, in GB.")
@click.option("-i", "--source-volume", "source_volume", default=None,
              help="A clone of this volume of the pool (instead of --size).")
@click.option("--filesystem", "filesystem", type=click.Choice(FILESYSTEMS), default=None,
              help="Format the disk with this filesystem (none: left unformatted).")
@click.option("--fsarg", "fsargs", multiple=True,
              help="An argument to mkfs (repeat for more; each passed as one argument).")
@click.option("-m", "--mountpoint", "mountpoint", default=None,
              help="Where the VM mounts the filesystem, an absolute path.")
@pass_state
def disk_add(state: CliState, name: str, disk_id: str, pool: str, size: int | None,
             source_volume: str | None, filesystem: str | None, fsargs: tuple[str, ...],
             mountpoint: str | None) -> None:
    """Add disk DISK_ID (e.g. sda) to storage template NAME: a new volume of --size GB,
    or a clone of --source-volume, in --pool."""
    if (size is None) == (source_volume is None):
        raise click.UsageError("Give either --size or --source-volume.")
    echo(TemplateApi(state.api()).storage_template_disk_add(
        name, disk_id, pool=pool, disk_size=size, source_volume=source_volume,
        filesystem=filesystem, filesystem_args=fsargs, mountpoint=mountpoint))


@disk_group.command(name="remove")
@click.argument("name")
@click.argument("disk_id")
@YES
@pass_state
def disk_remove(state: CliState, name: str, disk_id: str, yes: bool) -> None:
    """Remove disk DISK_ID from storage template NAME."""
    if not confirm(f"Remove disk {disk_id} from storage template {name}", yes):
        return
    echo(TemplateApi(state.api()).storage_template_disk_remove(name, disk_id))
