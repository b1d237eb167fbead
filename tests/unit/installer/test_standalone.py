"""The installer runs on the ISO's live system with Debian's python3 and nothing else:
the files the ISO build copies import with the standard library alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pvc
from pvc.isobuild import build


def test_the_copied_installer_imports_with_the_standard_library_alone(tmp_path: Path) -> None:
    package = Path(pvc.__file__).parent
    for rel in build.INSTALLER_SOURCES:
        (tmp_path / "pvc" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(package / rel, tmp_path / "pvc" / rel)
    copied = {str(p.relative_to(tmp_path / "pvc")) for p in (tmp_path / "pvc").rglob("*.py")}
    assert copied == {str(p.relative_to(package)) for p in (package / "installer").rglob("*.py")
                      } | {"__init__.py", "common/__init__.py", "common/errors.py"}
    # -S: no site-packages (none of PVC's dependencies), -I: no user site, no PYTHON* env
    done = subprocess.run(
        ["/usr/bin/python3", "-I", "-S", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); "
         "import pvc.installer.__main__, pvc.installer.install; print('ok')", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip() == "ok", done.stderr


def test_the_iso_layer_has_the_installer_and_starts_it(tmp_path: Path) -> None:
    build.installer_layer(tmp_path, Path(pvc.__file__).parent)
    assert (tmp_path / "install.sh").stat().st_mode & 0o111
    assert (tmp_path / "opt/pvc-installer/pvc/installer/install.py").is_file()
    unit = tmp_path / "etc/systemd/system/multi-user.target.wants/pvc-installer.service"
    assert unit.is_symlink() and "ExecStart=/install.sh --auto" in (
        tmp_path / "etc/systemd/system/pvc-installer.service").read_text()
    assert "/install.sh" in (tmp_path / "root/.bash_profile").read_text()
