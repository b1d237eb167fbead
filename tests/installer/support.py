"""What the installer tests share: the guest's serial console, SSH as the deploy user,
the ISO build (cached system: seconds after the first), and a libvirtd of their own
(the servers a BMC emulator drives)."""

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

from pvc.devcluster.guest.xml import qemu_conf_overrides

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


PRIVATE = ("etc/libvirt", "var/lib/libvirt", "var/log/libvirt", "var/cache/libvirt",
           "run/libvirt")
# libvirtd and virtlogd with their own state (bind mounts in a mount namespace of their
# own); the socket is on the real filesystem, where a BMC's emulator reaches it
LIBVIRTD = """set -e
W=$1
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/libvirt /run/lock
for d in {dirs}; do mount --bind "$W/$d" "/$d"; done
/usr/sbin/virtlogd --pid-file "$W/virtlogd.pid" &
exec /usr/sbin/libvirtd --pid-file "$W/libvirtd.pid"
"""


def libvirt_socket(work: Path) -> Path:
    """The socket of the libvirtd `private_libvirtd(work, ...)` starts."""
    return work / "libvirt/run/libvirt/libvirt-sock"


@contextlib.contextmanager
def private_libvirtd(work: Path, netns: str) -> Iterator[list[str]]:
    """A libvirtd with its own configuration and state under `work`/libvirt, in the
    network namespace `netns` (the caller's), for the `with` block; yields the virsh
    command that talks to it."""
    lv = work / "libvirt"
    for d in PRIVATE:
        (lv / d).mkdir(parents=True)
    subprocess.run(["cp", "-a", "/etc/libvirt/.", str(lv / "etc/libvirt")], check=True)
    (lv / "etc/libvirt/libvirtd.conf").write_text('listen_tls = 0\nlisten_tcp = 0\n'
                                                  'auth_unix_rw = "none"\n')
    qemu_conf = lv / "etc/libvirt/qemu.conf"
    qemu_conf.write_text(qemu_conf.read_text() + "\n" + qemu_conf_overrides())
    socket_path = libvirt_socket(work)
    virsh = ["virsh", "-c", f"qemu+unix:///system?socket={socket_path}"]
    with started(["ip", "netns", "exec", netns, "unshare", "-m", "--propagation", "private",
                  "sh", "-c", LIBVIRTD.format(dirs=" ".join(PRIVATE)), "libvirtd", str(lv)],
                 work / "libvirtd.log"):
        deadline = time.monotonic() + 60
        while not socket_path.exists() or subprocess.run(
                [*virsh, "version"], capture_output=True, check=False).returncode:
            if time.monotonic() > deadline:
                raise AssertionError((work / "libvirtd.log").read_text())
            time.sleep(0.5)
        yield virsh


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
