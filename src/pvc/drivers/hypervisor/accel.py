"""Which domain type a node gives its guests: KVM where it works, TCG where it cannot."""

from __future__ import annotations

import os
from pathlib import Path


def runs_under_hypervisor(cpuinfo: str) -> bool:
    """True when the CPU flags say this host is itself a virtual machine."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "hypervisor" in line.split(":", 1)[1].split()
    return False


def effective_domain_type(setting: str, kvm_device: str = "/dev/kvm",
                          cpuinfo_file: str = "/proc/cpuinfo") -> str:
    """kvm or qemu for a `hypervisor.domain_type` setting of auto, kvm or qemu."""
    if setting in ("kvm", "qemu"):
        return setting
    try:
        cpuinfo = Path(cpuinfo_file).read_text()
    except OSError:
        cpuinfo = ""
    usable = os.path.exists(kvm_device) and os.access(kvm_device, os.R_OK | os.W_OK)
    return "kvm" if usable and not runs_under_hypervisor(cpuinfo) else "qemu"
