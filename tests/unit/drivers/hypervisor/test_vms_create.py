"""Starting a domain that libvirt is still removing from its previous run."""

from __future__ import annotations

from typing import Any

import libvirt
import pytest

from pvc.common.errors import BackendError
from pvc.drivers.hypervisor import vms


class Conn:
    def __init__(self, refusals: int, message: str) -> None:
        self.refusals, self.message, self.calls = refusals, message, 0

    def createXML(self, xml: str, flags: int) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise libvirt.libvirtError(self.message)


def host(conn: Conn) -> vms.LibvirtVms:
    found = vms.LibvirtVms("qemu:///nowhere")
    found._connect = lambda: conn  # type: ignore[assignment,method-assign,return-value]
    return found


def test_a_domain_still_being_removed_is_started_once_it_is_gone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vms.time, "sleep", lambda _s: None)
    conn = Conn(3, "operation failed: domain 'a2' is already being removed")
    host(conn).create("<domain/>")
    assert conn.calls == 4


def test_other_refusals_fail_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vms.time, "sleep", lambda _s: None)
    conn = Conn(1, "operation failed: domain 'a2' already exists with uuid ...")
    with pytest.raises(BackendError, match="already exists"):
        host(conn).create("<domain/>")
    assert conn.calls == 1


def test_a_removal_that_never_ends_fails_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock: dict[str, Any] = {"now": 0.0}
    monkeypatch.setattr(vms.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(vms.time, "sleep",
                        lambda s: clock.__setitem__("now", clock["now"] + s))
    conn = Conn(10_000, "operation failed: domain 'a2' is already being removed")
    with pytest.raises(BackendError, match="already being removed"):
        host(conn).create("<domain/>")
    # it asked again every 0.2 s until the wait was over, then gave up
    assert vms.REMOVAL_WAIT <= clock["now"] < vms.REMOVAL_WAIT + 0.5
    assert conn.calls == pytest.approx(vms.REMOVAL_WAIT / 0.2, abs=2)
