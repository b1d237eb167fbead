"""`pvc vm volume get|add|remove`: the disks of a VM, edited in its domain XML on the
client (read with `GET /vm/{vm}`, written back with `PUT /vm/{vm}`), as PVC does.

A new RBD disk copies the Ceph monitors and auth of an RBD disk the VM already has; a VM
without one gets the cluster's (`GET /storage/ceph/client`).
"""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, echo, emit, format_option
from pvc.cli.render import Column, cell, table
from pvc.cli.vm.common import RESTART, change_device, live_option, wants_restart
from pvc.client.api import ApiClient
from pvc.client.storage.api import StorageApi
from pvc.common import vmxml
from pvc.common import vmxml_disks as disks
from pvc.common.errors import BackendError, InvalidArgument


@click.group(name="volume", cls=PvcGroup)
def volume_group() -> None:
    """Show and change the disks (volumes) of a VM."""


def _xml(api: ApiClient, vm: str) -> str:
    xml = api.vm_info(vm).get("xml")
    if not isinstance(xml, str) or not xml:
        raise InvalidArgument(f'The API returned no XML for VM "{vm}"')
    return xml


def _cluster_access(api: ApiClient) -> disks.RbdAccess:
    body = api.get("/storage/ceph/client")
    if not isinstance(body, dict) or not isinstance(body.get("monitors"), list):
        raise BackendError("The API did not say where the Ceph monitors are")
    hosts = tuple((str(m.get("host", "")), str(m.get("port", "") or ""))
                  for m in body["monitors"] if isinstance(m, dict))
    return disks.RbdAccess(hosts, str(body.get("auth_username") or ""),
                           str(body.get("secret_uuid") or "")).checked()


def _disks_pretty(items: list[dict[str, Any]]) -> list[Text]:
    return table((Column("Type"), Column("Name"), Column("Disk ID"), Column("Bus")),
                 [[cell(d.get("type")), cell(d.get("name")), cell(d.get("dev")),
                   cell(d.get("bus"))] for d in items])


def _get(state: CliState, vm: str, output_format: str) -> None:
    emit(vmxml.parse(_xml(state.api(), vm)).disk_list(), output_format, _disks_pretty,
         {"raw": lambda items: "\n".join(str(d.get("name")) for d in items)})


@volume_group.command(name="get")
@click.argument("vm")
@format_option(["pretty", "raw", "json", "json-pretty"])
@pass_state
def volume_get(state: CliState, vm: str, output_format: str) -> None:
    """Show the disks of VM."""
    _get(state, vm, output_format)


@volume_group.command(name="list", hidden=True)
@click.argument("vm")
@format_option(["pretty", "raw", "json", "json-pretty"])
@pass_state
def volume_list(state: CliState, vm: str, output_format: str) -> None:
    """Show the disks of VM (the same as `get`)."""
    _get(state, vm, output_format)


@volume_group.command(name="add")
@click.argument("vm")
@click.argument("volume")
@click.option("-d", "--disk-id", "disk_id", default=None,
              help="The disk id (sdX, vdX or hdX to fit the bus; default: the next free one).")
@click.option("-b", "--bus", "bus", type=click.Choice(disks.BUSES), default="scsi",
              show_default=True, help="The bus of the disk (the VM must have it).")
@click.option("-t", "--type", "disk_type", type=click.Choice(disks.DISK_TYPES), default="rbd",
              show_default=True,
              help="rbd: VOLUME is <pool>/<volume>; file: an image path on the hypervisors.")
@live_option(default=False)
@RESTART
@pass_state
def volume_add(state: CliState, vm: str, volume: str, disk_id: str | None, bus: str,
               disk_type: str, live: bool, restart: bool | None) -> None:
    """Add VOLUME to VM as a new disk."""
    disks.check_request(volume, disk_type, bus, disk_id)
    api = state.api()
    xml = _xml(api, vm)
    access = None
    if disk_type == "rbd":
        pool, name = volume.split("/", 1)
        StorageApi(api).volume_info(pool, name)  # NotFound if it does not exist
        access = disks.rbd_access_of(xml) or _cluster_access(api)
    new = disks.add_disk(xml, volume, disk_type, bus, disk_id, access)
    if live and not restart:
        change_device(state, vm, disks.disk_xml(new, volume), attach=True)
        return
    echo(api.vm_modify(vm, new, wants_restart(state, vm, restart)))


@volume_group.command(name="remove")
@click.argument("vm")
@click.argument("volume")
@live_option(default=False)
@RESTART
@pass_state
def volume_remove(state: CliState, vm: str, volume: str, live: bool,
                  restart: bool | None) -> None:
    """Remove the disk on VOLUME (<pool>/<volume>, or a file path) from VM; the volume
    itself is kept."""
    api = state.api()
    xml = _xml(api, vm)
    new = disks.remove_disk(xml, volume)
    if live and not restart:
        change_device(state, vm, disks.disk_xml(xml, volume), attach=False)
        return
    echo(api.vm_modify(vm, new, wants_restart(state, vm, restart)))
