"""A domain counts as running until its QEMU is gone, not only while its guest runs."""

from __future__ import annotations

import libvirt
import pytest

from pvc.drivers.hypervisor import vms

UUID = "0b6c7e0e-5f57-4c57-9d0e-3f1f4f1f0a01"


class Dom:
    def __init__(self, state: int) -> None:
        self._state = state

    def state(self) -> list[int]:
        return [self._state, 0]


class Conn:
    def __init__(self, dom: Dom | None) -> None:
        self.dom = dom

    def lookupByUUIDString(self, uuid: str) -> Dom:
        if self.dom is None:
            err = libvirt.libvirtError("Domain not found")
            err.err = (libvirt.VIR_ERR_NO_DOMAIN, 0, "Domain not found", 0, "", "", "", 0, 0)
            raise err
        return self.dom


def host(dom: Dom | None) -> vms.LibvirtVms:
    found = vms.LibvirtVms("qemu:///nowhere")
    conn = Conn(dom)
    found._connect = lambda: conn  # type: ignore[assignment,method-assign,return-value]
    return found


@pytest.mark.parametrize(("state", "running"), [
    (libvirt.VIR_DOMAIN_RUNNING, True),
    (libvirt.VIR_DOMAIN_PAUSED, True),  # e.g. the target of a live migration
    (libvirt.VIR_DOMAIN_NOSTATE, True),  # just created
    # the guest powered off and QEMU has not exited yet: libvirt still refuses a new start
    (libvirt.VIR_DOMAIN_SHUTDOWN, True),
    (libvirt.VIR_DOMAIN_SHUTOFF, False),
    (libvirt.VIR_DOMAIN_CRASHED, False),
])
def test_running_means_its_qemu_has_not_ended(state: int, running: bool) -> None:
    assert host(Dom(state)).is_running(UUID) is running


def test_no_domain_is_not_running() -> None:
    assert host(None).is_running(UUID) is False
