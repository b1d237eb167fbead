"""Which PG states count as clean when the dev tools wait for a settled pool."""

from __future__ import annotations

import pytest

from pvc.devcluster.ceph.admin import _clean


@pytest.mark.parametrize(("state", "clean"), [
    ("active+clean", True),
    ("active+clean+scrubbing", True),
    ("active+clean+scrubbing+deep", True),
    ("active+clean+snaptrim", True),
    ("active+clean+laggy", False),
    ("active+clean+remapped", False),
    ("active+recovering", False),
    ("active+undersized+degraded", False),
    ("peering", False),
    ("clean", False),
])
def test_clean_states(state: str, clean: bool) -> None:
    assert _clean(state) is clean
