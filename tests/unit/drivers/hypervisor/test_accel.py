"""The automatic choice between KVM and TCG, and applying it to a domain's XML."""

from __future__ import annotations

from pathlib import Path

from pvc.common import vmxml
from pvc.drivers.hypervisor.accel import effective_domain_type, runs_under_hypervisor

BARE = "processor\t: 0\nflags\t\t: fpu vme de pse vmx\n"
GUEST = "processor\t: 0\nflags\t\t: fpu vme de pse hypervisor vmx\n"


def test_hypervisor_flag() -> None:
    assert runs_under_hypervisor(GUEST) and not runs_under_hypervisor(BARE)
    assert not runs_under_hypervisor("")


def test_auto_picks_kvm_only_on_bare_metal_with_a_usable_device(tmp_path: Path) -> None:
    dev = tmp_path / "kvm"
    dev.write_text("")
    bare, guest = tmp_path / "bare", tmp_path / "guest"
    bare.write_text(BARE)
    guest.write_text(GUEST)
    assert effective_domain_type("auto", str(dev), str(bare)) == "kvm"
    assert effective_domain_type("auto", str(dev), str(guest)) == "qemu"
    assert effective_domain_type("auto", str(tmp_path / "none"), str(bare)) == "qemu"
    assert effective_domain_type("kvm", str(tmp_path / "none"), str(guest)) == "kvm"
    assert effective_domain_type("qemu", str(dev), str(bare)) == "qemu"


def test_domain_type_is_set_in_the_xml() -> None:
    xml = ("<domain type='kvm'><name>a</name><uuid>3f2b0c1e-0000-4000-8000-000000000001"
           "</uuid><memory>65536</memory><vcpu>1</vcpu></domain>")
    out = vmxml.with_domain_type(xml, "qemu")
    assert vmxml.parse(out).domain_type == "qemu"
    assert vmxml.with_domain_type(xml, "kvm") == xml
