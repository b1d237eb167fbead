"""`pvc vm start|restart|shutdown|stop|disable` and `pvc vm move|migrate|unmigrate`.

With `--wait` the API answers once the node daemons report the outcome."""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import confirm, echo
from pvc.cli.vm.common import WAIT, YES, api_for

TARGET = click.option("-t", "--target", "target", default=None,
                      help="The target node (default: the VM's node selector picks one).")
FORCE_LIVE = click.option("--force-live", "force_live", is_flag=True, default=False,
                          help="Live migration only: do not fall back to shutting the VM down.")


def _set_state(state: CliState, vm: str, wanted: str, force: bool, wait: bool) -> None:
    with api_for(state, wait) as api:
        echo(api.vm_state(vm, wanted, force=force, wait=wait))


@click.command(name="start")
@click.argument("vm")
@WAIT
@click.option("--force", "force", is_flag=True, default=False,
              help="Start the VM even if it is a mirror (read-only replica).")
@pass_state
def vm_start(state: CliState, vm: str, wait: bool, force: bool) -> None:
    """Start VM."""
    _set_state(state, vm, "start", force, wait)


@click.command(name="restart")
@click.argument("vm")
@WAIT
@YES
@pass_state
def vm_restart(state: CliState, vm: str, wait: bool, yes: bool) -> None:
    """Restart the running VM (a shutdown, then a start)."""
    if confirm(f'Restart virtual machine "{vm}"', yes):
        _set_state(state, vm, "restart", False, wait)


@click.command(name="shutdown")
@click.argument("vm")
@WAIT
@YES
@pass_state
def vm_shutdown(state: CliState, vm: str, wait: bool, yes: bool) -> None:
    """Shut the running VM down gracefully (forced off after the shutdown timeout)."""
    if confirm(f'Shut down virtual machine "{vm}"', yes):
        _set_state(state, vm, "shutdown", False, wait)


@click.command(name="stop")
@click.argument("vm")
@WAIT
@YES
@click.option("--force", "force", is_flag=True, default=False,
              help="Stop the VM even if it is a mirror (read-only replica).")
@pass_state
def vm_stop(state: CliState, vm: str, wait: bool, yes: bool, force: bool) -> None:
    """Forcibly stop VM at once (like pulling the power)."""
    if confirm(f'Forcibly stop virtual machine "{vm}"', yes):
        _set_state(state, vm, "stop", force, wait)


@click.command(name="disable")
@click.argument("vm")
@WAIT
@YES
@click.option("--force", "force", is_flag=True, default=False,
              help="Forcibly stop the VM instead of shutting it down.")
@pass_state
def vm_disable(state: CliState, vm: str, wait: bool, yes: bool, force: bool) -> None:
    """Shut VM down and mark it disabled (off on purpose: no health penalty)."""
    if confirm(f'Disable virtual machine "{vm}"', yes):
        _set_state(state, vm, "disable", force, wait)


def _node_action(state: CliState, vm: str, action: str, target: str | None, force: bool,
                 wait: bool, force_live: bool) -> None:
    with api_for(state, wait) as api:
        echo(api.vm_node(vm, action, target, force=force, wait=wait, force_live=force_live))


@click.command(name="move")
@click.argument("vm")
@TARGET
@WAIT
@FORCE_LIVE
@pass_state
def vm_move(state: CliState, vm: str, target: str | None, wait: bool, force_live: bool) -> None:
    """Move VM to another node for good (moving it to its current node makes a migration
    permanent)."""
    _node_action(state, vm, "move", target, False, wait, force_live)


@click.command(name="migrate")
@click.argument("vm")
@TARGET
@click.option("-f", "--force", "force", is_flag=True, default=False,
              help="Migrate a VM that is already migrated (its original node is kept).")
@WAIT
@FORCE_LIVE
@pass_state
def vm_migrate(state: CliState, vm: str, target: str | None, force: bool, wait: bool,
               force_live: bool) -> None:
    """Migrate VM to another node for now (`unmigrate` brings it back)."""
    _node_action(state, vm, "migrate", target, force, wait, force_live)


@click.command(name="unmigrate")
@click.argument("vm")
@WAIT
@FORCE_LIVE
@pass_state
def vm_unmigrate(state: CliState, vm: str, wait: bool, force_live: bool) -> None:
    """Migrate VM back to the node it was migrated from."""
    _node_action(state, vm, "unmigrate", None, False, wait, force_live)


STATE_COMMANDS = (vm_start, vm_restart, vm_shutdown, vm_stop, vm_disable, vm_move, vm_migrate,
                  vm_unmigrate)
