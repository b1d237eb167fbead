"""The console observer's tail of a serial log: what it publishes, and that a VM's last
words are published the moment its domain ends, not at the observer's next look."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pvc.node.vm.observer import VmObserver


class Written:
    """Records the store writes the observer makes (only `write` is used here)."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, str]] = []

    def write(self, key: str, value: str, **args: Any) -> None:
        self.writes.append((key, value, args["domain"]))


def observer(store: Written, running: dict[str, str], lines: int = 3) -> VmObserver:
    return VmObserver(store, "hv1", None, lines, lambda: dict(running))  # type: ignore[arg-type]


def test_last_words_publishes_what_the_log_gained_since_the_last_look(tmp_path: Path) -> None:
    log = tmp_path / "vm.log"
    log.write_bytes(b"PVC-GUEST-BOOTED a 1\r\npvc-counter 0\r\n")
    store, running = Written(), {"u1": str(log)}
    obs = observer(store, running)
    obs._consoles(running)
    assert store.writes == [("domain.console_log", "PVC-GUEST-BOOTED a 1\npvc-counter 0", "u1")]
    with log.open("ab") as fh:
        fh.write(b"pvc-counter 1\r\nPVC-GUEST-SHUTDOWN a\r\n")
    obs.last_words("u1")
    assert store.writes[-1] == (
        "domain.console_log", "pvc-counter 0\npvc-counter 1\nPVC-GUEST-SHUTDOWN a", "u1")
    # nothing new: the observer's next look (the VM still listed) writes nothing else
    # that differs from what was published
    obs._consoles(running)
    assert store.writes[-1][1].endswith("PVC-GUEST-SHUTDOWN a")


def test_last_words_of_a_vm_the_observer_never_looked_at(tmp_path: Path) -> None:
    log = tmp_path / "vm.log"
    log.write_bytes(b"one\ntwo\n")
    store = Written()
    obs = observer(store, {"u2": str(log)})
    obs.last_words("u2")
    assert store.writes == [("domain.console_log", "one\ntwo", "u2")]


def test_last_words_of_an_unknown_vm_or_a_missing_log_write_nothing(tmp_path: Path) -> None:
    store = Written()
    obs = observer(store, {"u3": str(tmp_path / "absent.log")})
    obs.last_words("u3")
    obs.last_words("nobody")
    assert store.writes == []
