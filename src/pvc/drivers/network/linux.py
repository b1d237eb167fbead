"""Linux addresses through iproute2 (`ip -j`), and gratuitous ARP through iputils arping.

Every argument is validated before it is put on a command line; no shell is involved.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Any, Protocol

from pvc.common import names
from pvc.common.errors import BackendError

IP = "/usr/bin/ip"
ARPING = "/usr/bin/arping"


Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class AddressControl(Protocol):
    def addresses(self, device: str) -> list[Interface]: ...

    def add_address(self, device: str, address: Interface) -> None: ...

    def remove_address(self, device: str, address: Interface) -> None: ...

    def announce(self, device: str, address: ipaddress.IPv4Address) -> subprocess.Popen[bytes]: ...


def _run(args: list[str], timeout: float = 5.0) -> str:
    try:
        res = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"{' '.join(args)} failed: {exc}") from exc
    if res.returncode != 0:
        raise BackendError(f"{' '.join(args)} failed: {res.stderr.strip() or res.returncode}")
    return res.stdout


class IpRoute:
    """AddressControl on the current network namespace."""

    def addresses(self, device: str) -> list[Interface]:
        """The global addresses of a device, IPv4 and IPv6."""
        out = _run([IP, "-j", "addr", "show", "dev", names.interface_name(device),
                    "scope", "global"])
        data: list[dict[str, Any]] = json.loads(out or "[]")
        found: list[Interface] = []
        for link in data:
            for info in link.get("addr_info", []):
                if "local" in info:  # (`ip -j` lists the addresses its filter left out as {})
                    found.append(ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}"))
        return found

    def add_address(self, device: str, address: Interface) -> None:
        dev = names.interface_name(device)
        if address in self.addresses(dev):
            return
        # IPv6: no duplicate address detection, so the address answers at once (it moves
        # with the primary role; the old holder has dropped it)
        extra = ["nodad"] if address.version == 6 else []
        _run([IP, "addr", "add", str(address), "dev", dev, *extra])

    def remove_address(self, device: str, address: Interface) -> None:
        dev = names.interface_name(device)
        if address not in self.addresses(dev):
            return
        _run([IP, "addr", "del", str(address), "dev", dev])

    def announce(self, device: str, address: ipaddress.IPv4Address) -> subprocess.Popen[bytes]:
        """Unsolicited ARP so neighbours repoint a moved address at once. Runs in the
        background (two announcements a second apart); the caller reaps the process."""
        dev = names.interface_name(device)
        try:
            return subprocess.Popen(
                [ARPING, "-q", "-U", "-c", "2", "-I", dev, str(address)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise BackendError(f"arping failed: {exc}") from exc
