"""`pvc vm tag|vcpu|memory|network`: tags, and edits of the domain XML (read with
`GET /vm/{vm}`, written back with `PUT /vm/{vm}`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.text import Text

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, echo, emit, format_option
from pvc.cli.render import Column, cell, table
from pvc.cli.vm import format as vm_format
from pvc.cli.vm import xml as vm_xml
from pvc.cli.vm.common import RESTART, change_device, live_option, wants_restart
from pvc.common import vmxml, vmxml_disks
from pvc.common.errors import InvalidArgument


def _xml(state: CliState, vm: str) -> str:
    xml = state.api().vm_info(vm).get("xml")
    if not isinstance(xml, str) or not xml:
        raise InvalidArgument(f'The API returned no XML for VM "{vm}"')
    return xml


def _edit(state: CliState, vm: str, change: Callable[[str], str], restart: bool | None) -> None:
    new = change(_xml(state, vm))
    echo(state.api().vm_modify(vm, new, wants_restart(state, vm, restart)))


# -- tags -------------------------------------------------------------------------
@click.group(name="tag", cls=PvcGroup)
def tag_group() -> None:
    """Show and change the tags of a VM."""


@tag_group.command(name="get")
@click.argument("vm")
@format_option(["pretty", "json", "json-pretty"])
@pass_state
def tag_get(state: CliState, vm: str, output_format: str) -> None:
    """Show the tags of VM."""
    emit(state.api().vm_tags(vm), output_format, vm_format.tags_table)


@tag_group.command(name="add")
@click.argument("vm")
@click.argument("tag")
@click.option("-p", "--protected", "protected", is_flag=True, default=False,
              help="A protected tag.")
@pass_state
def tag_add(state: CliState, vm: str, tag: str, protected: bool) -> None:
    """Add TAG to VM."""
    echo(state.api().vm_tag(vm, "add", tag, protected))


@tag_group.command(name="remove")
@click.argument("vm")
@click.argument("tag")
@pass_state
def tag_remove(state: CliState, vm: str, tag: str) -> None:
    """Remove TAG from VM."""
    echo(state.api().vm_tag(vm, "remove", tag))


# -- vCPUs ------------------------------------------------------------------------
@click.group(name="vcpu", cls=PvcGroup)
def vcpu_group() -> None:
    """Show and change the vCPUs of a VM."""


def _vcpu_info(xml: str) -> dict[str, Any]:
    root = vmxml_disks.parse(xml)
    topo = vm_xml.topology_of(root)
    return {"vcpus": vm_xml.vcpus_of(root),
            "topology": {"sockets": topo[0], "cores": topo[1], "threads": topo[2]} if topo
            else None}


def _vcpu_pretty(data: dict[str, Any]) -> list[Text]:
    topo = data.get("topology") or {}
    shown = f"{topo['sockets']}/{topo['cores']}/{topo['threads']}" if topo else "N/A"
    return table((Column("vCPUs", right=True), Column("Topology (S/C/T)")),
                 [[cell(data.get("vcpus")), shown]])


@vcpu_group.command(name="get")
@click.argument("vm")
@format_option(["pretty", "raw", "json", "json-pretty"])
@pass_state
def vcpu_get(state: CliState, vm: str, output_format: str) -> None:
    """Show the vCPU count and topology of VM."""
    emit(_vcpu_info(_xml(state, vm)), output_format, _vcpu_pretty,
         {"raw": lambda d: str(d["vcpus"])})


@vcpu_group.command(name="set")
@click.argument("vm")
@click.argument("vcpus", type=click.IntRange(min=1))
@click.option("-t", "--topology", "topology", default=None,
              help="<sockets>,<cores>,<threads> (their product must be VCPUS; default 1,VCPUS,1).")
@RESTART
@pass_state
def vcpu_set(state: CliState, vm: str, vcpus: int, topology: str | None,
             restart: bool | None) -> None:
    """Give VM VCPUS vCPUs."""
    if topology:
        vm_xml.parse_topology(topology, vcpus)  # refuse before asking anything
    _edit(state, vm, lambda xml: vm_xml.set_vcpus(xml, vcpus, topology), restart)


# -- memory -----------------------------------------------------------------------
@click.group(name="memory", cls=PvcGroup)
def memory_group() -> None:
    """Show and change the memory of a VM."""


@memory_group.command(name="get")
@click.argument("vm")
@format_option(["pretty", "raw", "json", "json-pretty"])
@pass_state
def memory_get(state: CliState, vm: str, output_format: str) -> None:
    """Show the memory of VM (MiB)."""
    data = {"memory": vmxml.parse(_xml(state, vm)).memory_mib}
    emit(data, output_format,
         lambda d: table((Column("RAM (M)", right=True),), [[cell(d["memory"])]]),
         {"raw": lambda d: str(d["memory"])})


@memory_group.command(name="set")
@click.argument("vm")
@click.argument("memory", type=click.IntRange(min=1))
@RESTART
@pass_state
def memory_set(state: CliState, vm: str, memory: int, restart: bool | None) -> None:
    """Give VM MEMORY MiB of memory."""
    _edit(state, vm, lambda xml: vm_xml.set_memory(xml, memory), restart)


# -- networks ---------------------------------------------------------------------
@click.group(name="network", cls=PvcGroup)
def network_group() -> None:
    """Show and change the network interfaces of a VM."""


def _nets_pretty(nets: list[dict[str, Any]]) -> list[Text]:
    return table((Column("Network"), Column("MAC Address"), Column("Model")),
                 [[cell(n.get("vni")), cell(n.get("mac")), cell(n.get("model"))] for n in nets])


@network_group.command(name="get")
@click.argument("vm")
@format_option(["pretty", "json", "json-pretty"])
@pass_state
def network_get(state: CliState, vm: str, output_format: str) -> None:
    """Show the network interfaces of VM."""
    emit(vmxml.parse(_xml(state, vm)).networks(), output_format, _nets_pretty)


LIVE = live_option(default=True)


@network_group.command(name="add")
@click.argument("vm")
@click.argument("net")
@click.option("-a", "--macaddr", "mac", default=None,
              help="The MAC address (default: a random 52:54:00:xx:xx:xx).")
@click.option("-m", "--model", "model", default="virtio", show_default=True,
              help="The NIC model.")
@LIVE
@RESTART
@pass_state
def network_add(state: CliState, vm: str, net: str, mac: str | None, model: str,
                live: bool, restart: bool | None) -> None:
    """Add an interface on network NET (a VNI, or cluster/storage/upstream) to VM."""
    if live and not restart:
        change_device(state, vm, vm_xml.dump(vm_xml.interface(net, mac, model)), attach=True)
        return
    _edit(state, vm, lambda xml: vm_xml.add_network(xml, net, mac, model), restart)


@network_group.command(name="remove")
@click.argument("vm")
@click.argument("net")
@click.option("-m", "--macaddr", "mac", default=None,
              help="Only the interface with this MAC address.")
@LIVE
@RESTART
@pass_state
def network_remove(state: CliState, vm: str, net: str, mac: str | None, live: bool,
                   restart: bool | None) -> None:
    """Remove the interfaces on network NET from VM."""
    vm_xml.bridge_for(net)
    if live and not restart:
        for iface in vm_xml.network_interfaces(_xml(state, vm), net, mac):
            change_device(state, vm, iface, attach=False)
        return
    _edit(state, vm, lambda xml: vm_xml.remove_network(xml, net, mac), restart)
