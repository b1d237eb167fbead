"""`pvc storage osd`: create-db-vg, add, replace, refresh, remove, in, out, set, unset, list.

Adding, replacing, refreshing and removing OSDs (and creating the database volume group)
run as tasks on the OSD's node: the API answers 202 with the task, which `--wait` follows.
"""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.cli.storage import format as format_storage
from pvc.cli.storage.common import LIST_FORMATS, TASK_WAIT, YES, follow_task, storage_api

WEIGHT_HELP = "The CRUSH weight of the OSD(s), usually the size in TiB."
EXT_DB_RATIO = click.option(
    "-r", "--ext-db-ratio", "ext_db_ratio", type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Put the OSD database on an LV of the node's osd-db volume group, this fraction of "
    "the OSD's size (e.g. 0.05).")
EXT_DB_SIZE = click.option(
    "-s", "--ext-db-size", "ext_db_size", default=None,
    help="Put the OSD database on an LV of the node's osd-db volume group of this size "
    "(e.g. 20G).")


def _one_db_option(ext_db_ratio: float | None, ext_db_size: str | None) -> None:
    if ext_db_ratio is not None and ext_db_size is not None:
        raise click.UsageError("Give at most one of -r/--ext-db-ratio and -s/--ext-db-size.")


@click.group(name="osd", cls=PvcGroup)
def osd_group() -> None:
    """Manage the Ceph OSDs (object storage daemons) of the cluster."""


@osd_group.command(name="create-db-vg")
@click.argument("node")
@click.argument("device")
@YES
@TASK_WAIT
@pass_state
def osd_create_db_vg(state: CliState, node: str, device: str, yes: bool, wait: bool) -> None:
    """Create the OSD database volume group (osd-db) on DEVICE of NODE.

    DEVICE should be much faster than the OSDs' devices (NVMe, Optane); all data on it is
    destroyed.
    """
    if confirm(f"Destroy all data on and create a new OSD database volume group on node "
               f"{node} device {device}", yes):
        follow_task(state, storage_api(state).osd_db_vg_add(node, device), wait)


@osd_group.command(name="add")
@click.argument("node")
@click.argument("device")
@click.option("-w", "--weight", "weight", type=float, default=1.0, show_default=True,
              help=WEIGHT_HELP)
@EXT_DB_RATIO
@EXT_DB_SIZE
@click.option("-c", "--osd-count", "osd_count", type=click.IntRange(min=1), default=None,
              help="Split the device (e.g. a large NVMe) into this many OSDs.")
@YES
@TASK_WAIT
@pass_state
def osd_add(state: CliState, node: str, device: str, weight: float, ext_db_ratio: float | None,
            ext_db_size: str | None, osd_count: int | None, yes: bool, wait: bool) -> None:
    """Create new OSD(s) on block device DEVICE of NODE.

    DEVICE is a path (/dev/sdb, /dev/disk/by-path/...) or "detect:NAME:SIZE:ID" to find
    the disk by its model name, size and index. All data on it is destroyed.
    """
    _one_db_option(ext_db_ratio, ext_db_size)
    if confirm(f"Destroy all data on and create new OSD(s) on node {node} device {device}",
               yes):
        task = storage_api(state).osd_add(node, device, weight, ext_db_ratio=ext_db_ratio,
                                          ext_db_size=ext_db_size, osd_count=osd_count)
        follow_task(state, task, wait)


@osd_group.command(name="replace")
@click.argument("osdid")
@click.argument("new_device")
@click.option("-o", "--old-device", "old_device", default=None,
              help="The OSD's current block device, if it cannot be found any more.")
@click.option("-w", "--weight", "weight", type=float, default=None,
              help=WEIGHT_HELP + " Default: keep the current weight.")
@EXT_DB_RATIO
@EXT_DB_SIZE
@YES
@TASK_WAIT
@pass_state
def osd_replace(state: CliState, osdid: str, new_device: str, old_device: str | None,
                weight: float | None, ext_db_ratio: float | None, ext_db_size: str | None,
                yes: bool, wait: bool) -> None:
    """Move OSD OSDID (and its split peers) onto the new block device NEW_DEVICE."""
    _one_db_option(ext_db_ratio, ext_db_size)
    if confirm(f"Destroy all data on and replace OSD {osdid} (and peer split OSDs) with new "
               f"device {new_device}", yes):
        task = storage_api(state).osd_replace(osdid, new_device, old_device=old_device,
                                              weight=weight, ext_db_ratio=ext_db_ratio,
                                              ext_db_size=ext_db_size)
        follow_task(state, task, wait)


@osd_group.command(name="refresh")
@click.argument("osdid")
@click.argument("device")
@YES
@TASK_WAIT
@pass_state
def osd_refresh(state: CliState, osdid: str, device: str, yes: bool, wait: bool) -> None:
    """Re-import the intact OSD OSDID (and its split peers) on DEVICE into a rebuilt node."""
    if confirm(f"Refresh OSD {osdid} (and peer split OSDs) on device {device}", yes):
        follow_task(state, storage_api(state).osd_refresh(osdid, device), wait)


@osd_group.command(name="remove")
@click.argument("osdid")
@click.option("-f", "--force", "force", is_flag=True, default=False,
              help="Go on even if some steps fail (e.g. the device is already gone).")
@YES
@TASK_WAIT
@pass_state
def osd_remove(state: CliState, osdid: str, force: bool, yes: bool, wait: bool) -> None:
    """Remove OSD OSDID from the cluster and destroy its data.

    Ceph moves its data to other OSDs first; without --force the removal waits until the
    OSD is safe to destroy.
    """
    if confirm(f"Remove and destroy data on OSD {osdid}", yes):
        follow_task(state, storage_api(state).osd_remove(osdid, force), wait)


@osd_group.command(name="in")
@click.argument("osdid")
@pass_state
def osd_in(state: CliState, osdid: str) -> None:
    """Mark OSD OSDID in: Ceph places data on it again."""
    echo(storage_api(state).osd_set_state(osdid, "in"))


@osd_group.command(name="out")
@click.argument("osdid")
@pass_state
def osd_out(state: CliState, osdid: str) -> None:
    """Mark OSD OSDID out: Ceph moves its data to the other OSDs."""
    echo(storage_api(state).osd_set_state(osdid, "out"))


@osd_group.command(name="set")
@click.argument("option")
@pass_state
def osd_set(state: CliState, option: str) -> None:
    """Set the cluster-wide OSD flag OPTION (e.g. noout during maintenance).

    \b
    Common flags: noout, noup, nodown, noin, nobackfill, norebalance, norecover,
    noscrub, nodeep-scrub, pause, full.
    """
    echo(storage_api(state).ceph_option(option, "set"))


@osd_group.command(name="unset")
@click.argument("option")
@pass_state
def osd_unset(state: CliState, option: str) -> None:
    """Unset the cluster-wide OSD flag OPTION (see `pvc storage osd set`)."""
    echo(storage_api(state).ceph_option(option, "unset"))


@osd_group.command(name="list")
@click.argument("limit", required=False, default=None)
@format_option(LIST_FORMATS)
@pass_state
def osd_list(state: CliState, limit: str | None, output_format: str) -> None:
    """List the OSDs, optionally only those whose ID matches LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (IDs, one per line), "json", "json-pretty".
    """
    emit(storage_api(state).osd_list(limit), output_format, format_storage.osd_list_pretty,
         {"raw": format_storage.osd_list_raw})
