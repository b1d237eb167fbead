"""`pvc vm flush-locks VM`: break the stale RBD locks of a stopped VM's disks."""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.storage.common import follow_task
from pvc.client.vm.locks import VmLocksApi


@click.command(name="flush-locks")
@click.argument("vm")
@click.option("--wait/--no-wait", "wait", default=True, show_default=True,
              help="Wait for the task to finish, showing its progress.")
@pass_state
def vm_flush_locks(state: CliState, vm: str, wait: bool) -> None:
    """Flush stale RBD locks of VM (it must be stopped, disabled or failed)."""
    follow_task(state, VmLocksApi(state.api()).vm_flush_locks(vm), wait)
