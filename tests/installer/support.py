"""What the installer tests share: the guest's serial console, SSH as the deploy user,
and the ISO build (cached system: seconds after the first)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path


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
