"""`pvc provisioner`: the group and its `template` sub-group."""

from __future__ import annotations

import click

from pvc.cli.output import PvcGroup
from pvc.cli.provisioner.profile import profile_group
from pvc.cli.provisioner.script import script_group
from pvc.cli.provisioner.system import system_group
from pvc.cli.provisioner.templates import network_group, storage_group, template_list
from pvc.cli.provisioner.userdata import userdata_group


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
