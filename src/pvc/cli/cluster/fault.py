"""`pvc cluster fault`: list, ack, ack-all, delete, delete-all.

    pvc cluster fault list [FAULT_ID] [-f short|long|json|json-pretty]
    pvc cluster fault ack FAULT_ID...          pvc cluster fault ack-all [-y]
    pvc cluster fault delete FAULT_ID... [-y]  pvc cluster fault delete-all [-y]
"""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from pvc.cli import render
from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, confirm, echo, emit, format_option
from pvc.client.cluster.faults import FaultsApi

_YES = click.option(
    "-y", "--yes", "yes", is_flag=True, default=False, help="Pre-confirm this dangerous action."
)
SORT_KEYS = ["first_reported", "last_reported", "acknowledged_at", "status", "health_delta",
             "message"]


def _api(state: CliState) -> FaultsApi:
    return FaultsApi(state.api())


def _status_cell(fault: dict[str, Any]) -> Text:
    status = str(fault.get("status", ""))
    if status == "ack":
        return render.cell(status, render.NOTE)
    delta = fault.get("health_delta")
    big = isinstance(delta, int) and not isinstance(delta, bool) and delta >= 50
    return render.cell(status, render.BAD if big else render.WARN)


def _rows(faults: list[dict[str, Any]], long: bool) -> list[Text]:
    if not faults:
        return [Text("No faults found.")]
    columns = [render.Column("ID"), render.Column("Status"),
               render.Column("Health delta", right=True)]
    if long:
        columns.append(render.Column("First reported"))
    columns.append(render.Column("Last reported"))
    if long:
        columns.append(render.Column("Acknowledged at"))
    columns.append(render.Column("Message"))
    rows = []
    for f in faults:
        row: list[render.Cell] = [str(f.get("id", "")), _status_cell(f),
                                  f"-{f.get('health_delta', 0)}%"]
        if long:
            row.append(str(f.get("first_reported", "")))
        row.append(str(f.get("last_reported", "")))
        if long:
            row.append(str(f.get("acknowledged_at", "")) or "-")
        row.append(str(f.get("message", "")))
        rows.append(row)
    return render.table(columns, rows)


def list_short(faults: list[dict[str, Any]]) -> list[Text]:
    return _rows(faults, long=False)


def list_long(faults: list[dict[str, Any]]) -> list[Text]:
    return _rows(faults, long=True)


@click.group(name="fault", cls=PvcGroup)
def cluster_fault() -> None:
    """Manage the faults of the PVC cluster."""


@cluster_fault.command(name="list")
@click.argument("limit", required=False, default=None, metavar="[FAULT_ID]")
@click.option("-s", "--sort-key", "sort_key", type=click.Choice(SORT_KEYS),
              default="last_reported", show_default=True, help="The field to sort by.")
@format_option(["short", "long", "json", "json-pretty"], default="short")
@pass_state
def fault_list(state: CliState, limit: str | None, sort_key: str, output_format: str) -> None:
    """List the cluster's faults, or only the fault FAULT_ID.

    \b
    Formats: "short" (ID, status, delta, last reported, message), "long" (also the
    first report and acknowledgement times), "json", "json-pretty".
    """
    faults = _api(state).fault_list(limit, sort_key)
    emit(faults, output_format, list_short, {"long": list_long})


@cluster_fault.command(name="ack")
@click.argument("fault_ids", nargs=-1, required=True, metavar="FAULT_ID...")
@pass_state
def fault_ack(state: CliState, fault_ids: tuple[str, ...]) -> None:
    """Acknowledge one or more faults: they stay listed but no longer lower the health."""
    api = _api(state)
    for fid in fault_ids:
        echo(api.fault_ack(fid))


@cluster_fault.command(name="ack-all")
@_YES
@pass_state
def fault_ack_all(state: CliState, yes: bool) -> None:
    """Acknowledge every fault of the cluster."""
    if confirm("Acknowledge all current cluster faults", yes):
        echo(_api(state).fault_ack_all())


@cluster_fault.command(name="delete")
@click.argument("fault_ids", nargs=-1, required=True, metavar="FAULT_ID...")
@_YES
@pass_state
def fault_delete(state: CliState, fault_ids: tuple[str, ...], yes: bool) -> None:
    """Delete one or more faults (a fault whose condition remains is raised again)."""
    if confirm(f"Delete fault(s) {', '.join(fault_ids)}", yes):
        api = _api(state)
        for fid in fault_ids:
            echo(api.fault_delete(fid))


@cluster_fault.command(name="delete-all")
@_YES
@pass_state
def fault_delete_all(state: CliState, yes: bool) -> None:
    """Delete every fault of the cluster."""
    if confirm("Delete all current cluster faults", yes):
        echo(_api(state).fault_delete_all())
