"""Floating-address keeper: a tiny process that holds the primary's floating addresses.

The node daemon starts it on takeover with the addresses as arguments (`DEV=ADDR/PREFIX`)
and a pipe on stdin. The keeper adds the addresses, announces them with gratuitous ARP,
prints `ready`, and then holds them until its stdin closes or it gets SIGTERM; then it
removes them and exits. Because a pipe closes when the daemon dies for any reason
(SIGKILL included), the addresses never outlive the daemon that owned the primary role.
"""

from __future__ import annotations

import ipaddress
import signal
import sys
import threading
from types import FrameType

from pvc.common import names
from pvc.common.errors import PVCError
from pvc.drivers.network.linux import IpRoute


def parse(arg: str) -> tuple[str, ipaddress.IPv4Interface]:
    dev, _, addr = arg.partition("=")
    return names.interface_name(dev), names.ipv4_interface(addr)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        held = [parse(a) for a in args]
    except PVCError as exc:
        print(f"error: {exc}", flush=True)
        return 2
    ip = IpRoute()
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    announcers = []
    try:
        for dev, addr in held:
            ip.add_address(dev, addr)
        for dev, addr in held:
            announcers.append(ip.announce(dev, addr.ip))
        print("ready", flush=True)

        def wait_eof() -> None:
            sys.stdin.buffer.read()
            done.set()

        threading.Thread(target=wait_eof, daemon=True).start()
        done.wait()
        return 0
    except PVCError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    finally:
        for proc in announcers:
            proc.kill()
            proc.wait()
        for dev, addr in reversed(held):
            try:
                ip.remove_address(dev, addr)
            except PVCError as exc:
                print(f"error: {exc}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
