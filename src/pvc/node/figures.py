"""The figures a node publishes with each keepalive: host facts and resource use."""

from __future__ import annotations

import os
import platform
from typing import Any

from pvc.drivers.hypervisor.libvirt_driver import DomainFigures


def static_data() -> dict[str, Any]:
    uname = platform.uname()
    return {
        "cpu_count": os.cpu_count() or 1,
        "kernel": uname.release,
        "os": _os_name(),
        "arch": uname.machine,
    }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def meminfo_mib() -> dict[str, int]:
    values: dict[str, int] = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[key] = int(parts[0]) // 1024
    total = values.get("MemTotal", 0)
    free = values.get("MemAvailable", values.get("MemFree", 0))
    return {"total": total, "used": max(total - free, 0), "free": free}


def stats(domains: list[DomainFigures] | None, provisioned_mib: int) -> dict[str, Any]:
    """Keepalive figures; `domains` None means libvirt could not be asked this time;
    `provisioned_mib` is the memory of every VM assigned to the node, running or not."""
    mem = meminfo_mib()
    running = [d for d in domains or [] if d.running]
    return {
        "load": round(os.getloadavg()[0], 2),
        "memory": {**mem, "allocated": sum(d.memory_mib for d in running),
                   "provisioned": provisioned_mib},
        "vcpu_allocated": sum(d.vcpus for d in running),
        "domains_count": len(running),
        "running_domains": sorted(d.uuid for d in running),
    }
