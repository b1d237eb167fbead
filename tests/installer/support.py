"""What the installer tests share: the guest's serial console, SSH as the deploy user,
and the ISO build (cached system: seconds after the first)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import textwrap
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
