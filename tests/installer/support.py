"""What the installer tests share: the guest's serial console, SSH as the deploy user,
and the ISO build (cached system: seconds after the first)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# a webhook receiver to run as `python3 -c WEBHOOK_RECEIVER PORT FILE` (in a namespace):
# every body POSTed to it on 127.0.0.1:PORT, one per line of FILE
WEBHOOK_RECEIVER = textwrap.dedent("""\
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with open(sys.argv[2], "ab") as f:
                f.write(body + b"\\n")
            self.send_response(200)
            self.end_headers()
        def log_message(self, *a):
            pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """)


@contextlib.contextmanager
def started(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process (in a session of its own) for the `with` block; then stopped with its
    whole session: SIGTERM, SIGKILL after 20 s."""
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_console(console: Path, pattern: str, timeout: float, fail: str = "") -> str:
    """Wait for a line matching `pattern` on the guest's serial console; its match."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = console.read_text(errors="replace") if console.exists() else ""
        if fail and (bad := re.search(fail, text)):
            raise AssertionError(f"console: {text[bad.start():bad.start() + 600]}")
        if found := re.search(pattern, text):
            return found.group(0)
        time.sleep(1)
    raise AssertionError(f"no {pattern!r} on the console within {timeout:.0f} s; its end:\n"
                         f"{text[-3000:]}")


def ssh(key: Path, port: int, command: str, timeout: float = 60, host: str = "127.0.0.1",
        netns: str = "") -> subprocess.CompletedProcess[str]:
    """`command` as the deploy user on the guest (from inside `netns`, if given)."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run(
        [*prefix, "ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"deploy@{host}", command],
        capture_output=True, text=True, timeout=timeout, check=False)


class SerialConsole:
    """A guest's serial port, served by QEMU on a unix socket: a thread keeps all the
    guest says (and copies it to `log`); `expect` waits for a pattern after the last
    match, `type` sends a line as a terminal would (ending in a carriage return)."""

    def __init__(self, path: Path, log: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.text = ""
        self.pos = 0
        self.lock = threading.Lock()
        self.log = log.open("a", errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while data := self._recv():
            chunk = data.decode(errors="replace")
            with self.lock:
                self.text += chunk
            self.log.write(chunk)
            self.log.flush()

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(4096)
        except OSError:
            return b""

    def expect(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = re.compile(pattern).search(self.text, self.pos)
                if found:
                    self.pos = found.end()
                    return found
                text = self.text
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on the serial console within "
                                     f"{timeout:.0f} s; since the last match:\n"
                                     f"{text[self.pos:][-3000:]}")
            time.sleep(0.2)

    def type(self, line: str) -> None:
        self.send(line.encode() + b"\r")

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.reader.join(5)
        self.log.close()
