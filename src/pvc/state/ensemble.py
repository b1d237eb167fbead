"""Questions to a ZooKeeper server itself (four-letter words): is it serving, and is it
the ensemble's leader."""

from __future__ import annotations

import socket


def four_letter(address: str, port: int, word: str, timeout: float = 1.0) -> str:
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            data = s.recv(4096)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def server_mode(address: str, port: int, timeout: float = 0.5) -> str | None:
    """leader, follower, standalone, or None when the server does not serve."""
    try:
        out = four_letter(address, port, "srvr", timeout)
    except OSError:
        return None
    for line in out.splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None
