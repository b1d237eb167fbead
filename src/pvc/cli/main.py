"""`pvc`: the command-line client of a PVC cluster.

The command tree, options and output formats follow PVC's own client, so an operator's
habits carry over. Every command but `connection ...` talks to the API of the selected
connection and first prints which one on stderr.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import click

import pvc
from pvc.cli.cluster.commands import cluster_group
from pvc.cli.cluster.fault import cluster_fault
from pvc.cli.cluster.tasks import cluster_task
from pvc.cli.connection import connection_group
from pvc.cli.context import CliState
from pvc.cli.network.commands import network_group
from pvc.cli.node.commands import node_group
from pvc.cli.output import PvcGroup
from pvc.cli.provisioner.commands import provisioner_group
from pvc.cli.storage.commands import storage_group
from pvc.cli.vm.commands import vm_group

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _version() -> str:
    try:
        return metadata.version("pvc")
    except metadata.PackageNotFoundError:
        return pvc.__version__


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"PVC command-line client, version {_version()}")
    ctx.exit()


@click.group(name="pvc", cls=PvcGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "-c",
    "--connection",
    "connection",
    envvar="PVC_CONNECTION",
    default="local",
    show_default=True,
    help="The cluster connection to use (see `pvc connection list`).",
)
@click.option(
    "-q",
    "--quiet",
    "quiet",
    envvar="PVC_QUIET",
    is_flag=True,
    default=False,
    help="Print nothing on stderr but errors (no connection banner).",
)
@click.option(
    "-u",
    "--unsafe",
    "unsafe",
    envvar="PVC_UNSAFE",
    is_flag=True,
    default=False,
    help="Skip every confirmation. USE WITH CARE.",
)
@click.option(
    "--colour",
    "--color",
    "colour",
    envvar="PVC_COLOUR",
    is_flag=True,
    default=False,
    help="Colour the output even when it is not a terminal.",
)
@click.option(
    "--timeout",
    "timeout",
    envvar="PVC_TIMEOUT",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=None,
    metavar="SECONDS",
    help="How long to wait for each answer of the API  [default: 30; more for a slow "
         "or loaded cluster]",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the client version and exit.",
)
@click.pass_context
def cli(ctx: click.Context, connection: str, quiet: bool, unsafe: bool, colour: bool,
        timeout: float | None) -> None:
    """Parallel Virtual Cluster command-line client.

    \b
    Environment variables:
      PVC_CONNECTION  the connection to use instead of -c/--connection
      PVC_QUIET       like -q/--quiet
      PVC_UNSAFE      like -u/--unsafe: never ask for confirmation
      PVC_COLOUR      like --colour
      PVC_TIMEOUT     like --timeout
      PVC_CLIENT_DIR  the directory of the connection store (pvc.json)
      PVC_CONFIG_FILE the daemon configuration that the "local" connection reads

    Without -c, the "local" connection reads the API settings from /etc/pvc/pvc.conf.
    """
    state = ctx.ensure_object(CliState)
    state.connection = connection
    state.quiet = quiet
    state.unsafe = unsafe
    state.colour = colour
    if timeout is not None:
        state.timeout = timeout
    ctx.call_on_close(state.close)


cli.add_command(cluster_group)
cluster_group.add_command(cluster_task)
cluster_group.add_command(cluster_fault)
cli.add_command(node_group)
cli.add_command(vm_group)
cli.add_command(network_group)
cli.add_command(provisioner_group)
cli.add_command(storage_group)
cli.add_command(connection_group)


def main() -> None:
    cli(prog_name="pvc")


if __name__ == "__main__":
    main()
