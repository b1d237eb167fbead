"""Floating-address keeper: a tiny process that holds the primary's floating addresses.

The node daemon starts it on takeover with the addresses as arguments (`DEV=ADDR/PREFIX`)
and a pipe on stdin. The keeper adds the addresses, announces them with gratuitous ARP,
prints `ready`, and then holds them until its stdin closes or it gets SIGTERM; then it
removes them and exits. Because a pipe closes when the daemon dies for any reason
(SIGKILL included), the addresses never outlive the daemon that owned the primary role.

While it holds them, lines on stdin change what it holds (the gateways of the client
networks come and go with the networks): `add DEV=ADDR/PREFIX` adds and announces one
(IPv4 with gratuitous ARP; IPv6 is announced by the kernel, `ndisc_notify`), `del
DEV=ADDR/PREFIX` removes one; each line is answered `ok` or `error: <why>`.
"""

from __future__ import annotations

import ipaddress
import signal
import subprocess
import sys
import threading
from types import FrameType

from pvc.common import names
from pvc.common.errors import PVCError
from pvc.drivers.network.linux import IpRoute

Held = tuple[str, ipaddress.IPv4Interface | ipaddress.IPv6Interface]


def parse(arg: str) -> Held:
    dev, _, addr = arg.partition("=")
    return names.interface_name(dev), names.ip_interface(addr)


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
    announcers: list[subprocess.Popen[bytes]] = []
    lock = threading.Lock()

    def take(dev: str, addr: ipaddress.IPv4Interface | ipaddress.IPv6Interface) -> None:
        ip.add_address(dev, addr)
        if addr.version == 4 and dev != "lo":  # nobody on a loopback to tell
            announcers[:] = [p for p in announcers if p.poll() is None]  # reap finished ones
            announcers.append(ip.announce(dev, addr.ip))

    def follow_stdin() -> None:
        for raw in sys.stdin.buffer:
            verb, _, arg = raw.decode(errors="replace").strip().partition(" ")
            try:
                dev, addr = parse(arg)
                with lock:
                    if verb == "add":
                        take(dev, addr)
                        if (dev, addr) not in held:
                            held.append((dev, addr))
                    elif verb == "del":
                        ip.remove_address(dev, addr)
                        if (dev, addr) in held:
                            held.remove((dev, addr))
                    else:
                        raise PVCError(f"unknown command {verb!r}")
                print("ok", flush=True)
            except PVCError as exc:
                print(f"error: {exc}", flush=True)
        done.set()  # stdin closed: the daemon let go (or died)

    try:
        with lock:
            for dev, addr in held:
                take(dev, addr)
        print("ready", flush=True)
        threading.Thread(target=follow_stdin, daemon=True).start()
        done.wait()
        return 0
    except PVCError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    finally:
        lock.acquire(timeout=5)  # a change in progress finishes first
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
