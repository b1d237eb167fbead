"""The create flow's refusals that need no cluster."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pvc.common.errors import InvalidArgument, InvalidState
from pvc.tasks.provisioner.create import create_vm
from pvc.tasks.registry import RERUN_ATTR


def test_a_build_whose_first_run_was_cut_short_is_not_run_again() -> None:
    task = SimpleNamespace(request=SimpleNamespace(id="t1", **{RERUN_ATTR: True}))
    with pytest.raises(InvalidState, match='build of VM "web1" was cut short'):
        create_vm(task, "web1", "debian12")


def test_start_without_define_is_refused() -> None:
    task = SimpleNamespace(request=SimpleNamespace(id="t2"))
    with pytest.raises(InvalidArgument, match="cannot be started"):
        create_vm(task, "web1", "debian12", define_vm=False, start_vm=True)
