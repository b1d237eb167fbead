"""Stage order of a node and of a cluster (pure)."""

from __future__ import annotations

import pytest

from pvc.bootstrap import stages


@pytest.mark.parametrize(("current", "new", "forward"), [
    ("waiting", "characterizing", True),
    ("waiting", "installed", True),  # check-ins may skip stages (a lost one)
    ("installed", "installing", False),
    ("installed", "installed", False),
    ("installing", stages.FAILED, True),
    (stages.FAILED, stages.FAILED, False),
    (stages.FAILED, "completed", False),
])
def test_node_stages_only_go_forward(current: str, new: str, forward: bool) -> None:
    assert stages.node_forward(current, new) is forward


def test_reached_counts_later_stages_and_never_a_failure() -> None:
    assert stages.reached("booted-initial", "installed")
    assert not stages.reached("installing", "installed")
    assert not stages.reached(stages.FAILED, "waiting")


def test_every_installer_checkin_is_a_node_stage_or_news() -> None:
    for stage in stages.INSTALLER_CHECKINS.values():
        assert stage is None or stage == stages.FAILED or stage in stages.NODE_STAGES
