"""The installer on several consoles at once: each asks its questions, and only one
writes (the others say so and write nothing)."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from pvc.installer import __main__ as entry
from pvc.installer import machine
from pvc.installer.machine import Disk, Nic

ANSWERS = """hostname = hv1.example.net
disk = /dev/vda
interface = ens3
ssh_key = ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== deploy@example
"""


@pytest.fixture
def installer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The installer with this test's lock file, machine and an install that only notes
    the disk it was given."""
    installed: list[str] = []
    monkeypatch.setattr(entry, "LOCK", tmp_path / "installer.lock")
    monkeypatch.setattr(machine, "disks", lambda: [Disk("/dev/vda", "", 8 * 1000**3)])
    monkeypatch.setattr(machine, "nics", lambda: [Nic("ens3", "52:54:00:aa:bb:01")])

    def install(answers: object, target: machine.Target, progress: object) -> float:
        installed.append(target.disk.path)
        return 1.0

    monkeypatch.setattr(entry, "install", install)
    (tmp_path / "answers.txt").write_text(ANSWERS)
    return installed


def test_the_console_that_gets_the_lock_installs(installer: list[str], tmp_path: Path) -> None:
    assert entry.main(["--answers", str(tmp_path / "answers.txt"), "--no-reboot"]) == 0
    assert installer == ["/dev/vda"]


def test_a_console_whose_answers_come_second_writes_nothing(
        installer: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open(tmp_path / "installer.lock", "w") as other:  # another console installs
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert entry.main(["--answers", str(tmp_path / "answers.txt"), "--no-reboot"]) == 1
    assert installer == []
    assert "installing from another console already; nothing was done here" in (
        capsys.readouterr().out)
