"""What the primary's address keeper holds: the core networks' floating addresses, and the
metadata service's address on the loopback when guests have one to ask."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

import yaml

from pvc.common import config as configmod
from pvc.node.primary.services import PrimaryServices

METADATA = ("lo", ipaddress.IPv4Interface("169.254.169.254/32"))


def services(**database: Any) -> PrimaryServices:
    raw = yaml.safe_load(configmod.SAMPLE_FILE.read_text())
    raw = copy.deepcopy(raw)
    raw["database"]["postgres"]["credentials"]["api"].update(database)
    return PrimaryServices(configmod.parse(raw), Path("/nonexistent"))


def test_the_metadata_address_is_held_with_the_provisioner_on() -> None:
    held = services(password="secret").floating()
    assert METADATA in held
    assert len(held) == 4  # upstream, cluster, storage and the metadata address


def test_no_metadata_address_without_the_provisioner() -> None:
    assert METADATA not in services(password="").floating()
