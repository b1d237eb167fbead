"""The import contracts of pyproject.toml (`lint-imports`): the tree keeps them, and a
forbidden import or a cycle between siblings breaks them (checked on a copy of the tree)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def lint(src: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--no-cache", str(config)], cwd=src,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A copy of src/pvc that a test may break."""
    shutil.copytree(REPO / "src" / "pvc", tmp_path / "pvc",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    res = lint(REPO / "src", REPO / "pyproject.toml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("api/root.py", "from pvc.node import zklog", "api never reaches the node daemon"),
    ("api/root.py", "from pvc.drivers.storage import ceph", "api uses drivers only through ops"),
    ("cli/render.py", "from pvc.state import store", "cli and client speak to the cluster"),
    ("drivers/storage/base.py", "from pvc.state import store", "drivers import nothing"),
    ("state/store.py", "from pvc.ops.vm import records", "state imports only common"),
    ("node/primary/loop.py", "from pvc.node.vm import decide", "the node daemon's concerns"),
    ("ops/vm/meta.py", "from pvc.ops.storage import records", "no import cycles"),
])
def test_a_broken_rule_fails_and_is_named(tree: Path, module: str, line: str,
                                          contract: str) -> None:
    path = tree / "pvc" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    res = lint(tree, REPO / "pyproject.toml")
    assert res.returncode != 0, res.stdout
    broken = res.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, res.stdout
