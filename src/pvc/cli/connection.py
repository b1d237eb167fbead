"""`pvc connection`: the client's store of cluster connections (no API banner here)."""

from __future__ import annotations

import json
import re
from typing import Any

import click
from rich.text import Text

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup, echo, emit, format_option, info
from pvc.cli.render import Column, cell, health_style, health_text, table
from pvc.client import LOCAL, Connection, add_connection, from_entry, load_store, remove_connection
from pvc.client.connections import store_path
from pvc.common.errors import PVCError

DETAIL_TIMEOUT = 5.0  # seconds per cluster for `connection detail`


@click.group(name="connection", cls=PvcGroup)
def connection_group() -> None:
    """Manage the PVC clusters this client can connect to."""


@connection_group.command(name="add")
@click.argument("name")
@click.option("-d", "--description", default="N/A", help="A description of the connection.")
@click.option("-a", "--address", required=True, help="The address or hostname of the API.")
@click.option(
    "-p",
    "--port",
    type=click.IntRange(1, 65535),
    default=7370,
    show_default=True,
    help="The port of the API.",
)
@click.option("-k", "--api-key", "api_key", default=None, help="The API key, if the API needs one.")
@click.option("-s/-S", "--ssl/--no-ssl", "ssl", default=False, help="Use HTTPS.  [default: no-ssl]")
@pass_state
def connection_add(
    state: CliState,
    name: str,
    description: str,
    address: str,
    port: int,
    api_key: str | None,
    ssl: bool,
) -> None:
    """Add connection NAME (an existing NAME is replaced)."""
    scheme = "https" if ssl else "http"
    add_connection(
        name,
        address,
        port=port,
        scheme=scheme,
        api_key=api_key,
        description=description,
        path=state.store,
    )
    echo(
        f'Added connection "{name}" ({scheme}://{address}:{port}) to {state.store or store_path()}'
    )


@connection_group.command(name="remove")
@click.argument("name")
@pass_state
def connection_remove(state: CliState, name: str) -> None:
    """Remove connection NAME."""
    remove_connection(name, state.store)
    echo(f'Removed connection "{name}" from {state.store or store_path()}')


def _entries(state: CliState) -> list[Connection]:
    """Every usable connection of the store; cfgfile entries whose file is gone are skipped."""
    conns: list[Connection] = []
    for name, entry in load_store(state.store).items():
        try:
            conns.append(from_entry(name, entry))
        except PVCError:
            if name != LOCAL or entry.get("cfgfile") is None:
                info(f'Skipping connection "{name}": it cannot be read')
    return conns


def _mask(key: str | None) -> str | None:
    return re.sub(r"[A-Za-z0-9]", "x", key) if key else key


def _list_item(conn: Connection, show_keys: bool) -> dict[str, Any]:
    return {
        "name": conn.name,
        "description": conn.description,
        "address": conn.host,
        "port": conn.port,
        "scheme": conn.scheme,
        "api_key": conn.api_key if show_keys else _mask(conn.api_key),
    }


def _list_pretty(items: list[dict[str, Any]]) -> list[Text]:
    cols = [Column(h) for h in ("Name", "Description", "Address", "Port", "Scheme", "API Key")]
    keys = ("name", "description", "address", "port", "scheme", "api_key")
    return table(
        cols, [[cell(item[k] if item[k] is not None else "") for k in keys] for item in items]
    )


def _list_raw(items: list[dict[str, Any]]) -> str:
    return "\n".join(item["name"] for item in items)


def _list_prometheus(items: list[dict[str, Any]]) -> str:
    """Prometheus file_sd targets, one per cluster, labelled as PVC labels them."""
    targets = [
        {
            "targets": [f"{item['address']}:{item['port']}"],
            "labels": {
                "job": "pvc",
                "pvc_cluster_name": f"{item['name']}: {item['description']}",
                "pvc_cluster_id": item["name"],
            },
        }
        for item in items
    ]
    return json.dumps(targets, indent=2)


@connection_group.command(name="list")
@click.option("-k", "--show-keys", "show_keys", is_flag=True, default=False, help="Show API keys.")
@format_option(["pretty", "raw", "json", "json-pretty", "json-prometheus"])
@pass_state
def connection_list(state: CliState, show_keys: bool, output_format: str) -> None:
    """List the connections of this client.

    \b
    Formats: "pretty", "raw" (names), "json", "json-pretty", "json-prometheus"
    (Prometheus file service discovery targets).
    """
    items = [_list_item(c, show_keys) for c in _entries(state)]
    emit(
        items, output_format, _list_pretty, {"raw": _list_raw, "json-prometheus": _list_prometheus}
    )


DETAIL_KEYS = (
    ("name", "Name"),
    ("description", "Description"),
    ("health", "Health"),
    ("maintenance", "Maintenance"),
    ("primary_node", "Primary"),
    ("pvc_version", "Version"),
    ("nodes", "Nodes"),
    ("vms", "VMs"),
    ("networks", "Networks"),
    ("osds", "OSDs"),
    ("pools", "Pools"),
    ("volumes", "Volumes"),
    ("snapshots", "Snapshots"),
)


def _detail_item(state: CliState, conn: Connection) -> dict[str, Any]:
    item: dict[str, Any] = {key: "N/A" for key, _ in DETAIL_KEYS}
    item.update(name=conn.name, description=conn.description)
    try:
        with state.client_for(conn, timeout=DETAIL_TIMEOUT, connect_window=0.0) as api:
            data = api.status()
    except PVCError as exc:
        info(f'Connection "{conn.name}": {exc.message}')
        return item

    def total(key: str) -> Any:
        block = data.get(key)
        return block.get("total", "N/A") if isinstance(block, dict) else "N/A"

    health = data.get("cluster_health")
    item.update(
        health=health.get("health", "N/A") if isinstance(health, dict) else "N/A",
        maintenance=data.get("maintenance", "N/A"),
        primary_node=data.get("primary_node", "N/A"),
        pvc_version=data.get("pvc_version", "N/A"),
        nodes=total("nodes"),
        vms=total("vms"),
        osds=total("osds"),
        networks=data.get("networks", "N/A"),
        pools=data.get("pools", "N/A"),
        volumes=data.get("volumes", "N/A"),
        snapshots=data.get("snapshots", "N/A"),
    )
    return item


def _detail_pretty(items: list[dict[str, Any]]) -> list[Text]:
    rows = []
    for item in items:
        row = [cell(item[key]) for key, _ in DETAIL_KEYS]
        maintenance = str(item["maintenance"]).lower() == "true"
        row[2] = cell(health_text(item["health"]), health_style(item["health"], maintenance))
        rows.append(row)
    return table([Column(header) for _, header in DETAIL_KEYS], rows)


@connection_group.command(name="detail")
@format_option(["pretty", "json", "json-pretty"])
@pass_state
def connection_detail(state: CliState, output_format: str) -> None:
    """Show the status of every cluster this client knows."""
    info("Gathering the status of every cluster...")
    items = [_detail_item(state, conn) for conn in _entries(state)]
    emit(items, output_format, _detail_pretty)
