"""`pvc network sriov`: the SR-IOV physical functions (PFs) of the nodes and their
virtual functions (VFs), which VMs can use as macvtap or hostdev interfaces."""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.network import sriov_format
from pvc.cli.network.common import INFO_FORMATS, LIST_FORMATS, network_api, or_empty
from pvc.cli.output import PvcGroup, emit, format_option


@click.group(name="sriov", cls=PvcGroup)
def sriov_group() -> None:
    """Show the SR-IOV network devices of the nodes (PFs and their VFs)."""


@click.group(name="pf", cls=PvcGroup)
def pf_group() -> None:
    """Show the SR-IOV physical functions (PFs) of the nodes."""


@click.group(name="vf", cls=PvcGroup)
def vf_group() -> None:
    """Show the SR-IOV virtual functions (VFs) of the nodes."""


@pf_group.command(name="list")
@click.argument("node")
@format_option(LIST_FORMATS)
@pass_state
def pf_list(state: CliState, node: str, output_format: str) -> None:
    """List the SR-IOV PFs of NODE and their VFs.

    \b
    Formats: "pretty" (a table), "raw" (devices, one per line), "json", "json-pretty".
    """
    api = network_api(state)
    emit(or_empty(lambda: api.sriov_pf_list(node)), output_format,
         lambda data: sriov_format.pf_table(data, node), {"raw": sriov_format.phy_raw})


@vf_group.command(name="list")
@click.argument("node")
@click.argument("pf", required=False, default=None)
@format_option(LIST_FORMATS)
@pass_state
def vf_list(state: CliState, node: str, pf: str | None, output_format: str) -> None:
    """List the SR-IOV VFs of NODE, optionally only those of the PF device PF.

    \b
    Formats: "pretty" (a table), "raw" (devices, one per line), "json", "json-pretty".
    """
    api = network_api(state)
    emit(or_empty(lambda: api.sriov_vf_list(node, pf)), output_format,
         lambda data: sriov_format.vf_table(data, node, pf), {"raw": sriov_format.phy_raw})


@vf_group.command(name="info")
@click.argument("node")
@click.argument("vf")
@format_option(INFO_FORMATS)
@pass_state
def vf_info(state: CliState, node: str, vf: str, output_format: str) -> None:
    """Show the settings and the user of the SR-IOV VF device VF on NODE.

    \b
    Formats: "pretty", "json", "json-pretty" (the VF object as the API returns it).
    """
    emit(network_api(state).sriov_vf_info(node, vf), output_format,
         lambda data: sriov_format.vf_info(data, node))


sriov_group.add_command(pf_group)
sriov_group.add_command(vf_group)
