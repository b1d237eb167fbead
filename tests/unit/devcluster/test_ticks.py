"""Watching the tiny guest's ticks in console log files: the longest silence across logs,
a count that goes back (a new boot), and a log's earlier content skipped on request."""

from __future__ import annotations

import time
from pathlib import Path

from pvc.devcluster.guest.ticks import TickLog, longest_silence, restarts


def write(path: Path, counts: range | list[int], pause: float = 0.02) -> None:
    with open(path, "a") as out:
        for n in counts:
            out.write(f"pvc-tick {n}\n")
            out.flush()
            time.sleep(pause)


def settle(logs: list[TickLog], count: int) -> None:
    deadline = time.monotonic() + 5
    while sum(len(log.seen) for log in logs) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_guest_moving_between_two_logs(tmp_path: Path) -> None:
    source, target = tmp_path / "source.log", tmp_path / "target.log"
    source.write_text("booting\npvc-tick 1\npvc-tick 2\n")  # an earlier run: skipped
    with TickLog(source, from_end=True) as before, TickLog(target) as after:
        write(source, range(3, 6))
        time.sleep(0.3)  # the switch
        write(target, [6, 7, 8])
        settle([before, after], 6)
    assert [n for _, n in before.seen] == [3, 4, 5]
    assert [n for _, n in after.seen] == [6, 7, 8]
    assert 0.3 <= longest_silence([before, after]) < 1.5
    assert restarts([before, after]) == []


def test_a_count_that_goes_back_is_a_new_boot(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    with TickLog(log) as ticks:
        write(log, [7, 8, 1, 2])
        settle([ticks], 4)
    assert restarts([ticks]) == [(8, 1)]
    assert longest_silence([]) == 0.0
