"""`pvc node`: list, info, primary, secondary, flush, ready, log."""

from __future__ import annotations

import click

from pvc.cli.context import DEFAULT_NODE, CliState, pass_state
from pvc.cli.node import format as format_node
from pvc.cli.output import PvcGroup, echo, emit, format_option, info
from pvc.cli.waiters import FOLLOW_LINES, LOG_LINES, show_log, wait_for_node_state


@click.group(name="node", cls=PvcGroup)
def node_group() -> None:
    """Manage and view the nodes of a PVC cluster."""


@node_group.command(name="list")
@click.argument("limit", required=False, default=None)
@click.option(
    "-ds", "--daemon-state", "daemon_state", default=None, help="Only nodes in this daemon state."
)
@click.option(
    "-cs",
    "--coordinator-state",
    "coordinator_state",
    default=None,
    help="Only nodes in this coordinator state.",
)
@click.option(
    "-vs", "--domain-state", "domain_state", default=None, help="Only nodes in this domain state."
)
@format_option(["pretty", "raw", "json", "json-pretty"])
@pass_state
def node_list(
    state: CliState,
    limit: str | None,
    daemon_state: str | None,
    coordinator_state: str | None,
    domain_state: str | None,
    output_format: str,
) -> None:
    """List the nodes, optionally only those whose name matches LIMIT.

    \b
    Formats: "pretty" (a table), "raw" (names, one per line), "json", "json-pretty".
    """
    nodes = state.api().node_list(
        limit,
        daemon_state=daemon_state,
        coordinator_state=coordinator_state,
        domain_state=domain_state,
    )
    emit(nodes, output_format, format_node.list_pretty, {"raw": format_node.list_raw})


@node_group.command(name="info")
@click.argument("node", default=DEFAULT_NODE)
@format_option(["pretty", "long", "json", "json-pretty"])
@pass_state
def node_info(state: CliState, node: str, output_format: str) -> None:
    """Show the details of NODE (default: this host).

    \b
    Formats: "pretty", "long" (adds the system details and every health plugin),
    "json", "json-pretty".
    """
    data = state.api().node_info(node)
    emit(data, output_format, format_node.info_pretty, {"long": format_node.info_long})


def _coordinator(state: CliState, node: str, target: str, wait: bool) -> None:
    api = state.api()
    message = api.node_coordinator_state(node, target)
    echo(message)
    if not wait or "already" in message:
        return
    info(f"Waiting for node {node} to become {target} coordinator...")
    wait_for_node_state(
        api,
        node,
        "coordinator_state",
        target,
        timeout=state.wait_timeout,
        interval=state.poll_interval,
        sleep=state.sleep,
        clock=state.clock,
    )
    echo(f"Node {node} is now a {target} coordinator.")


_WAIT = click.option(
    "-w",
    "--wait/--no-wait",
    "wait",
    default=False,
    show_default=True,
    help="Wait until the node has completed the transition.",
)


@node_group.command(name="primary")
@click.argument("node", default=DEFAULT_NODE)
@_WAIT
@pass_state
def node_primary(state: CliState, node: str, wait: bool) -> None:
    """Make NODE (default: this host) the primary coordinator of the cluster."""
    _coordinator(state, node, "primary", wait)


@node_group.command(name="secondary")
@click.argument("node", default=DEFAULT_NODE)
@_WAIT
@pass_state
def node_secondary(state: CliState, node: str, wait: bool) -> None:
    """Make NODE (default: this host) a secondary coordinator; another node takes over."""
    _coordinator(state, node, "secondary", wait)


# A flush migrates the node's VMs one at a time: allow it more than a handover.
FLUSH_WAIT = 600.0
_DOMAIN_TARGETS = {"flush": ("flushed", "Removed node {} from active service."),
                   "ready": ("ready", "Restored node {} to active service.")}


def _domain(state: CliState, node: str, action: str, wait: bool) -> None:
    api = state.api()
    message = api.node_domain_state(node, action)
    echo(message)
    if not wait or "already" in message:
        return
    target, done = _DOMAIN_TARGETS[action]
    info(f"Waiting for node {node} to become {target}...")
    wait_for_node_state(
        api,
        node,
        "domain_state",
        target,
        timeout=max(state.wait_timeout, FLUSH_WAIT),
        interval=state.poll_interval,
        sleep=state.sleep,
        clock=state.clock,
    )
    echo(done.format(node))


@node_group.command(name="flush")
@click.argument("node", default=DEFAULT_NODE)
@_WAIT
@pass_state
def node_flush(state: CliState, node: str, wait: bool) -> None:
    """Take NODE (default: this host) out of service: migrate its VMs away."""
    _domain(state, node, "flush", wait)


@node_group.command(name="ready")
@click.argument("node", default=DEFAULT_NODE)
@_WAIT
@pass_state
def node_ready(state: CliState, node: str, wait: bool) -> None:
    """Return NODE (default: this host) to service: its VMs come back."""
    _domain(state, node, "ready", wait)


@node_group.command(name="log")
@click.argument("node", default=DEFAULT_NODE)
@click.option(
    "-l",
    "--lines",
    "lines",
    type=click.IntRange(min=1),
    default=None,
    help=f"How many of the last lines to show  [default: {LOG_LINES}; with --follow: {FOLLOW_LINES}]",
)
@click.option(
    "-f",
    "--follow",
    "follow",
    is_flag=True,
    default=False,
    help="Keep printing new lines (until Ctrl-C).",
)
@pass_state
def node_log(state: CliState, node: str, lines: int | None, follow: bool) -> None:
    """Show the node daemon log of NODE (default: this host)."""
    api = state.api()
    show_log(lambda n: api.node_log(node, n), lines, follow, state.sleep, state.poll_interval, echo,
             info)
