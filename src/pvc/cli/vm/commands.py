"""`pvc vm`: define, modify, rename, undefine, remove, meta, list, info, dump, log.

State and placement commands are in `state`; tags and XML editing in `edit`.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option, info
from pvc.cli.vm import format as vm_format
from pvc.cli.vm.common import RESTART, YES, wants_restart
from pvc.cli.vm.edit import memory_group, network_group, tag_group, vcpu_group
from pvc.cli.vm.locks import vm_flush_locks
from pvc.cli.vm.state import STATE_COMMANDS
from pvc.cli.vm.volume import volume_group
from pvc.cli.waiters import FOLLOW_LINES, LOG_LINES, show_log
from pvc.common.errors import InvalidArgument

SELECTORS = click.Choice(["mem", "memprov", "vcpus", "load", "vms", "none"])
METHODS = click.Choice(["live", "shutdown", "none"])


@click.group(name="vm", cls=PvcGroup)
def vm_group() -> None:
    """Manage the virtual machines of a PVC cluster."""


def _read(xml_file: IO[str]) -> str:
    text = xml_file.read()
    if not text.strip():
        raise InvalidArgument(f"{getattr(xml_file, 'name', 'The XML file')} is empty")
    return text


@vm_group.command(name="define")
@click.argument("xml_file", type=click.File("r"))
@click.option("-t", "--target", "target", default=None, help="The node to define the VM on.")
@click.option("-l", "--limit", "limit", default=None, help="Comma-separated nodes it may run on.")
@click.option("-s", "--node-selector", "selector", type=SELECTORS, default=None,
              help="How to pick its node (default: the cluster's selector).")
@click.option("-a", "--node-autostart", "autostart", is_flag=True, default=False,
              help="Start it when its node is next readied after a flush.")
@click.option("-m", "--migration-method", "--method", "method", type=METHODS, default=None,
              help="How to migrate it (default: live, falling back to shutdown).")
@click.option("--max-downtime", "max_downtime", type=click.IntRange(1, 60000), default=None,
              help="The maximum downtime of a live migration, in ms.")
@click.option("-g", "--tag", "tags", multiple=True, help="A tag (repeat for several).")
@click.option("-G", "--protected-tag", "protected_tags", multiple=True,
              help="A protected tag (repeat for several).")
@pass_state
def vm_define(state: CliState, xml_file: IO[str], target: str | None, limit: str | None,
              selector: str | None, autostart: bool, method: str | None,
              max_downtime: int | None, tags: tuple[str, ...],
              protected_tags: tuple[str, ...]) -> None:
    """Define a new VM from the libvirt domain XML in XML_FILE ("-" for stdin)."""
    echo(state.api().vm_define(
        _read(xml_file), node=target, limit=limit, selector=selector, autostart=autostart,
        migration_method=method, migration_max_downtime=max_downtime, user_tags=tags,
        protected_tags=protected_tags))


@vm_group.command(name="modify")
@click.argument("vm")
@click.argument("xml_file", type=click.File("r"))
@RESTART
@pass_state
def vm_modify(state: CliState, vm: str, xml_file: IO[str], restart: bool | None) -> None:
    """Replace the domain XML of VM with XML_FILE ("-" for stdin)."""
    xml = _read(xml_file)
    api = state.api()
    echo(api.vm_modify(vm, xml, wants_restart(state, vm, restart)))


@vm_group.command(name="rename")
@click.argument("vm")
@click.argument("new_name")
@YES
@pass_state
def vm_rename(state: CliState, vm: str, new_name: str, yes: bool) -> None:
    """Rename VM (it must be stopped) to NEW_NAME."""
    if confirm(f'Rename virtual machine "{vm}" to "{new_name}"', yes):
        echo(state.api().vm_rename(vm, new_name))


@vm_group.command(name="undefine")
@click.argument("vm")
@YES
@pass_state
def vm_undefine(state: CliState, vm: str, yes: bool) -> None:
    """Stop VM and remove it from the cluster, keeping its disks."""
    if confirm(f'Undefine virtual machine "{vm}"', yes):
        echo(state.api().vm_remove(vm, delete_disks=False))


@vm_group.command(name="remove")
@click.argument("vm")
@YES
@pass_state
def vm_remove(state: CliState, vm: str, yes: bool) -> None:
    """Stop VM and remove it from the cluster with all its disks."""
    if confirm(f'Remove virtual machine "{vm}" and all its disks', yes):
        echo(state.api().vm_remove(vm, delete_disks=True))


@vm_group.command(name="meta")
@click.argument("vm")
@click.option("-l", "--limit", "limit", default=None,
              help='Comma-separated nodes it may run on ("" for any).')
@click.option("-s", "--node-selector", "selector", type=SELECTORS, default=None,
              help="How to pick its node.")
@click.option("-a/-A", "--node-autostart/--no-autostart", "autostart", default=None,
              help="Start it (or not) when its node is next readied after a flush.")
@click.option("-p", "--profile", "profile", default=None, help="Its provisioner profile.")
@click.option("-m", "--migration-method", "--method", "method", type=METHODS, default=None,
              help="How to migrate it.")
@click.option("--max-downtime", "max_downtime", type=click.IntRange(1, 60000), default=None,
              help="The maximum downtime of a live migration, in ms.")
@pass_state
def vm_meta(state: CliState, vm: str, limit: str | None, selector: str | None,
            autostart: bool | None, profile: str | None, method: str | None,
            max_downtime: int | None) -> None:
    """Change the placement and migration metadata of VM."""
    if all(v is None for v in (limit, selector, autostart, profile, method, max_downtime)):
        raise InvalidArgument("Nothing to change: give at least one option")
    echo(state.api().vm_meta(vm, limit=limit, selector=selector, autostart=autostart,
                             profile=profile, migration_method=method,
                             migration_max_downtime=max_downtime))


@vm_group.command(name="list")
@click.argument("limit", required=False, default=None)
@click.option("-n", "--node", "node", default=None, help="Only VMs on this node.")
@click.option("-s", "--state", "vm_state", default=None, help="Only VMs in this state.")
@click.option("-t", "--tag", "tag", default=None, help="Only VMs with this tag.")
@click.option("-r", "--raw", "raw", is_flag=True, default=False,
              help="Names only, one per line (like -f raw).")
@click.option("--negate", "negate", is_flag=True, default=False,
              help="Invert the node, state and tag filters.")
@format_option(["pretty", "raw", "json", "json-pretty"])
@pass_state
def vm_list(state: CliState, limit: str | None, node: str | None, vm_state: str | None,
            tag: str | None, raw: bool, negate: bool, output_format: str) -> None:
    """List the VMs, optionally only those whose name or UUID matches LIMIT."""
    vms = state.api().vm_list(limit, node=node, state=vm_state, tag=tag, negate=negate)
    emit(vms, "raw" if raw else output_format, vm_format.list_pretty,
         {"raw": vm_format.list_raw})


@vm_group.command(name="info")
@click.argument("vm")
@format_option(["pretty", "long", "json", "json-pretty"])
@pass_state
def vm_info(state: CliState, vm: str, output_format: str) -> None:
    """Show the details of VM ("long" adds devices and statistics)."""
    emit(state.api().vm_info(vm), output_format, vm_format.info_pretty,
         {"long": vm_format.info_long})


@vm_group.command(name="dump")
@click.argument("vm")
@click.option("-f", "--file", "filename", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the XML to this file instead of standard output.")
@pass_state
def vm_dump(state: CliState, vm: str, filename: Path | None) -> None:
    """Show the libvirt domain XML of VM."""
    data = state.api().vm_info(vm)
    xml = data.get("xml")
    if not isinstance(xml, str) or not xml:
        raise InvalidArgument(f'The API returned no XML for VM "{vm}"')
    if filename is None:
        echo(xml)
        return
    try:
        filename.write_text(xml if xml.endswith("\n") else xml + "\n")
    except OSError as exc:
        raise InvalidArgument(f"Cannot write {filename}: {exc.strerror}") from exc
    echo(f'Wrote the XML of VM "{data.get("name", vm)}" to "{filename}".')


@vm_group.command(name="log")
@click.argument("vm")
@click.option("-l", "--lines", "lines", type=click.IntRange(min=1), default=None,
              help=f"How many of the last lines to show  [default: {LOG_LINES}; "
              f"with --follow: {FOLLOW_LINES}]")
@click.option("-f", "--follow", "follow", is_flag=True, default=False,
              help="Keep printing new lines (until Ctrl-C).")
@pass_state
def vm_log(state: CliState, vm: str, lines: int | None, follow: bool) -> None:
    """Show the serial console log of VM."""
    api = state.api()
    show_log(lambda n: api.vm_console(vm, n), lines, follow, state.sleep, state.poll_interval, echo,
             info)


for _command in (*STATE_COMMANDS, tag_group, vcpu_group, memory_group, network_group,
                 volume_group, vm_flush_locks):
    vm_group.add_command(_command)
