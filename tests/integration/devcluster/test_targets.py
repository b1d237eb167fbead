"""A set of deployment targets belongs to the process that made it while that process
runs: another run on the same machine cannot take it down under it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from pvc.common.errors import BackendError
from pvc.devcluster import procs
from pvc.devcluster.targets import lifecycle
from pvc.devcluster.targets.layout import TargetSpec

pytestmark = pytest.mark.integration


def test_a_set_in_use_by_a_running_process_is_left_alone(tmp_path: Path) -> None:
    spec = TargetSpec(name="owned", prefix="zq", root=str(tmp_path))
    spec.state_dir.mkdir(parents=True)
    owner = subprocess.Popen(["sleep", "30"])
    # Popen may return (vfork) before the kernel has set the new program's arguments
    deadline = time.monotonic() + 5
    while procs.cmdline(owner.pid)[:2] != ["sleep", "30"] and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        (spec.state_dir / "owner.pid").write_text(str(owner.pid))
        with pytest.raises(BackendError, match=rf"in use by process {owner.pid} \(sleep 30"):
            lifecycle.down(spec)
        with pytest.raises(BackendError, match="in use by process"):
            lifecycle.up(spec)
        assert spec.state_dir.exists()
    finally:
        owner.kill()
        owner.wait()
    lifecycle.down(spec)  # its maker gone, the set is anyone's to remove
    assert not spec.state_dir.exists()
