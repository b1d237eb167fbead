"""`pvcnoded --check-config FILE`: what the deployment's template step validates with."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvc.node.main import main

SAMPLE = Path(__file__).resolve().parents[3] / "src/pvc/common/pvc.sample.conf"


def test_the_sample_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "pvc.conf"
    conf.write_text(SAMPLE.read_text())
    assert main(["--check-config", str(conf), "--node", "hv2"]) == 0
    assert "valid configuration of cluster pvc1" in capsys.readouterr().out


@pytest.mark.parametrize(("line", "wrong", "key"), [
    ("successful_fence: migrate", "successful_fence: explode",
     "fencing.actions.successful_fence 'explode'"),
    ("failed_fence: none", "failed_fence: reboot", "fencing.actions.failed_fence 'reboot'"),
    ("target_selector: mem", "target_selector: random", "migration.target_selector 'random'"),
])
def test_a_wrong_value_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str,
                                wrong: str, key: str) -> None:
    text = SAMPLE.read_text()
    assert line in text
    conf = tmp_path / "pvc.conf"
    conf.write_text(text.replace(line, wrong))
    assert main(["--check-config", str(conf)]) == 2
    assert key in capsys.readouterr().err


def test_a_node_outside_the_cluster_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "pvc.conf"
    conf.write_text(SAMPLE.read_text())
    assert main(["--check-config", str(conf), "--node", "hv9"]) == 2
    assert "hv9 is not in cluster.all_nodes" in capsys.readouterr().err


def test_a_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check-config", str(tmp_path / "none.conf")]) == 2
    assert "none.conf" in capsys.readouterr().err
