"""A free TCP port, for a server a test starts (on loopback unless told)."""

from __future__ import annotations

import socket


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
    return port
