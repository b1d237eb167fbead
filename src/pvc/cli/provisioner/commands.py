"""`pvc provisioner`: the group and its `template` sub-group."""

from __future__ import annotations

import click

from pvc.cli.context import CliState, pass_state
from pvc.cli.output import PvcGroup
from pvc.cli.provisioner.ova import ova_group
from pvc.cli.provisioner.profile import profile_group
from pvc.cli.provisioner.script import script_group
from pvc.cli.provisioner.system import system_group
from pvc.cli.provisioner.templates import network_group, storage_group, template_list
from pvc.cli.provisioner.userdata import userdata_group
from pvc.cli.storage.common import follow_task
from pvc.client.provisioner.api import create_vm


@click.group(name="provisioner", cls=PvcGroup)
def provisioner_group() -> None:
    """Make VMs from profiles: templates, userdata, scripts, OVA images and profiles."""


@click.group(name="template", cls=PvcGroup)
def template_group() -> None:
    """Manage the system, network and storage templates that profiles combine."""


template_group.add_command(system_group)
template_group.add_command(network_group)
template_group.add_command(storage_group)
template_group.add_command(template_list)
provisioner_group.add_command(template_group)
provisioner_group.add_command(userdata_group)
provisioner_group.add_command(script_group)
provisioner_group.add_command(profile_group)
provisioner_group.add_command(ova_group)


@click.command(name="create")
@click.argument("name")
@click.argument("profile")
@click.option("-a", "--script-arg", "arguments", multiple=True,
              help="A script argument key=value, over the profile's; repeat for several.")
@click.option("-d/-D", "--define/--no-define", "define", default=True, show_default=True,
              help="Define the VM in the cluster (--no-define only builds its volumes).")
@click.option("-s/-S", "--start/--no-start", "start", default=True, show_default=True,
              help="Start the VM once it is built.")
@click.option("--wait/--no-wait", "wait", default=False, show_default=True,
              help="Wait for the build to finish, showing its stages.")
@pass_state
def create(state: CliState, name: str, profile: str, arguments: tuple[str, ...],
           define: bool, start: bool, wait: bool) -> None:
    """Build a new VM NAME from PROFILE: its script runs on the primary in stages (setup,
    create, prepare, install, cleanup); the VM is defined in state provision meanwhile."""
    if start and not define:
        raise click.UsageError("--no-define needs --no-start: a VM that is not defined "
                               "cannot be started")
    task = create_vm(state.api(), name, profile, define, start, list(arguments))
    follow_task(state, task, wait)


provisioner_group.add_command(create)
