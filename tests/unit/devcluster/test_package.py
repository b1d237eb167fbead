"""The package builder's checks, before it builds anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvc import __version__
from pvc.common.errors import InvalidArgument
from pvc.devcluster import package

REPO = Path(__file__).resolve().parents[3]


def test_the_version_is_pvcs_own() -> None:
    assert package.checkout_version(REPO) == __version__


@pytest.mark.parametrize("version", ["1.2.3", "0.1.0+upgrade.1", "2.0", "10.4.1+b7"])
def test_versions_debian_and_python_both_read(version: str) -> None:
    assert package.VERSION.match(version)


@pytest.mark.parametrize("version", ["v1.2", "-", "1.2.3~rc1", "1.2-3", "1.2.3+Upgrade",
                                     "1.2.3+a..b", "1.2.3; rm -rf /", "1." * 10])
def test_other_versions_are_refused_before_anything_is_built(version: str,
                                                            tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="is not a package version"):
        package.build(REPO, tmp_path, version)
    assert list(tmp_path.iterdir()) == []


def test_each_command_runs_its_module_with_the_private_libraries_first() -> None:
    text = package.WRAPPER.format(name="pvc", site=package.SITE, module="pvc.cli.main")
    compile(text, "pvc", "exec")
    assert text.startswith("#!/usr/bin/python3\n")
    assert "sys.path.insert(0, SITE)" in text and "from pvc.cli.main import main" in text
