"""Hooks that cannot run are refused before any runs; a hook's file must be the
repository's (the webhook and Ansible runs have their tests on real servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvc.bootstrap import hooks
from pvc.bootstrap.config import Hook
from pvc.common.errors import InvalidArgument


def test_hook_types_not_run_yet_stop_the_cluster_before_any_hook() -> None:
    ran: list[str] = []
    with pytest.raises(InvalidArgument, match="type osd is not run by this pvcbootstrapd"):
        hooks.run((Hook("tell", "webhook", ("all",), {"uri": "http://127.0.0.1:9/"}),
                   Hook("data", "osd", ("all",), {"device": "/dev/sdb"})),
                  Path("/nonexistent"), lambda h: [], Path("/x"), None, Path("/x.log"),
                  ran.append)
    assert ran == []


@pytest.mark.parametrize("source", ["../outside", "/etc/passwd", "files/missing", ""])
def test_a_copy_source_outside_the_repository_is_refused(tmp_path: Path, source: str
                                                         ) -> None:
    repo = tmp_path / "repo"
    (repo / "files").mkdir(parents=True)
    (tmp_path / "outside").write_text("secret")
    hook = Hook("c", "copy", ("all",), {"source": source, "destination": "/etc/x"})
    with pytest.raises(InvalidArgument, match="is not a file of the repository"):
        hooks.run((hook,), repo, lambda h: ["hv1.example.net"], tmp_path / "inv.yml", None,
                  tmp_path / "log", lambda text: None)
