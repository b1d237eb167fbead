"""`pvc storage`: the Ceph storage cluster (status, util) and its sub-groups: osd, pool,
volume (with volume snapshot) and benchmark."""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, emit, format_option
from pvc.cli.storage import format as format_storage
from pvc.cli.storage.benchmark import benchmark_group
from pvc.cli.storage.common import storage_api
from pvc.cli.storage.osd import osd_group
from pvc.cli.storage.pool import pool_group
from pvc.cli.storage.volume import volume_group


@click.group(name="storage", cls=PvcGroup)
def storage_group() -> None:
    """Manage the Ceph storage of a PVC cluster: OSDs, pools, volumes and snapshots."""


@storage_group.command(name="status")
@format_option(["pretty", "raw", "json", "json-pretty"])
@pass_state
def storage_status(state: CliState, output_format: str) -> None:
    """Show the status of the Ceph cluster (`ceph status`).

    \b
    Formats: "pretty" (with the primary node), "raw" (the Ceph text only), "json",
    "json-pretty".
    """
    emit(storage_api(state).ceph_status(), output_format, format_storage.ceph_pretty,
         {"raw": format_storage.ceph_raw})


@storage_group.command(name="util")
@format_option(["pretty", "raw", "json", "json-pretty"])
@pass_state
def storage_util(state: CliState, output_format: str) -> None:
    """Show the space used in the Ceph cluster and its pools (`ceph df`).

    \b
    Formats: "pretty" (with the primary node), "raw" (the Ceph text only), "json",
    "json-pretty".
    """
    emit(storage_api(state).ceph_utilization(), output_format, format_storage.ceph_pretty,
         {"raw": format_storage.ceph_raw})


for _command in (osd_group, pool_group, volume_group, benchmark_group):
    storage_group.add_command(_command)
