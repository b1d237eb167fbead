"""Options and helpers shared by the `pvc vm` commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from pvc.cli.context import CliState
from pvc.cli.output import echo
from pvc.client import ApiClient
from pvc.client.vm.devices import VmDevicesApi

F = TypeVar("F", bound=Callable[..., Any])

# The API answers a `wait` request once the node daemons report the outcome (up to a few
# minutes for a guest shutdown): the HTTP request may take that long.
WAIT_HTTP_TIMEOUT = 600.0

YES = click.option(
    "-y", "--yes", "yes", is_flag=True, default=False, help="Pre-confirm this dangerous action."
)
WAIT = click.option(
    "-w",
    "--wait/--no-wait",
    "wait",
    default=False,
    show_default=True,
    help="Wait until the change has happened (or failed) before returning.",
)
RESTART = click.option(
    "-r/-R",
    "--restart/--no-restart",
    "restart",
    default=None,
    help="Restart the VM to apply the change (default: ask; never with -u/--unsafe).",
)


def live_option(default: bool) -> Callable[[F], F]:
    return click.option(
        "-l/-L", "--live/--no-live", "live", default=default, show_default=True,
        help="Hot-plug the change into the running VM at once (it is stored too); with "
             "--no-live it is stored for the next start.")


def change_device(state: CliState, vm: str, device_xml: str, attach: bool) -> None:
    """Attach or detach one device through `/vm/{vm}/device`; a running VM's hot-plug is
    a task on its node, waited for with its progress."""
    from pvc.cli.cluster.tasks import wait_task  # the task waiter beside the cluster commands

    answer = VmDevicesApi(state.api()).vm_device(vm, device_xml, attach)
    if answer.get("task_id"):
        wait_task(state.api(), answer)
    else:
        echo(str(answer.get("message", "")))


def wants_restart(state: CliState, vm: str, restart: bool | None) -> bool:
    """The -r/-R choice, or the operator's answer (no answer or --unsafe: no restart)."""
    if restart is not None:
        return restart
    if state.unsafe:
        return False
    try:
        return click.confirm(f'Restart VM "{vm}" to apply the change', default=False,
                             prompt_suffix="? ", err=True)
    except click.Abort:
        click.echo("", err=True)
        return False


@contextmanager
def api_for(state: CliState, wait: bool) -> Iterator[ApiClient]:
    """The API client; with `wait`, one whose requests may last as long as the wait."""
    api = state.api()
    if not wait:
        yield api
        return
    with state.client_for(api.connection, timeout=max(state.timeout, WAIT_HTTP_TIMEOUT)) as slow:
        yield slow
