"""What only the primary runs: the floating addresses (held by the keeper process) and
pvcapid. Both children get a pipe on stdin and exit when it closes, so neither can
outlive this daemon, however it dies.

Other parts of the daemon that serve only on the primary (the client networks' gateways
and DHCP) register a listener: it is told `True` once the floating addresses are held
(before the API starts), and `False` before they are given back. Their extra addresses (`set_extra`) are
held by the same keeper, so they go with the floating addresses, whatever happens."""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pvc.common import procs
from pvc.common.config import METADATA_ADDRESS, Config
from pvc.common.errors import BackendError
from pvc.drivers.network.linux import Interface, IpRoute

log = logging.getLogger("pvcnoded")

# After each takeover whose pvcapid did not listen in time, the next waits twice as long,
# up to this many times timer.takeover_timeout: on a slow or loaded server (its imports
# alone took over a minute on a busy TCG guest) a fixed wait would kill a still-starting
# API and start over for ever, even with no other coordinator to take over.
MAX_API_WAIT_FACTOR = 8


class PrimaryServices:
    def __init__(self, config: Config, log_dir: Path, api_enabled: bool = True) -> None:
        self.config = config
        self.log_dir = log_dir
        self.api_enabled = api_enabled
        self.ip = IpRoute()
        self.keeper: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.listeners: list[Callable[[bool], None]] = []
        self._keeper_lock = threading.Lock()
        self.extra: set[tuple[str, Interface]] = set()  # held by the keeper besides floating
        self.api_command = [sys.executable, "-m", "pvc.api.main", "--watch-stdin"]
        self.slow_api_starts = 0  # takeovers in a row whose pvcapid did not listen in time

    def api_wait(self) -> float:
        """How long this takeover waits for pvcapid to listen."""
        factor = min(2 ** self.slow_api_starts, MAX_API_WAIT_FACTOR)
        return float(self.config.takeover_timeout * factor)

    def floating(self) -> list[tuple[str, ipaddress.IPv4Interface]]:
        out = []
        for net in self.config.networks.values():
            fl = net.floating_interface()
            if fl is not None:
                out.append((net.device, fl))
        if self.config.metadata_enabled:  # the metadata service's address (pvcapid)
            out.append(("lo", ipaddress.IPv4Interface(f"{METADATA_ADDRESS}/32")))
        return out

    @property
    def running(self) -> bool:
        return self.keeper is not None or self.api is not None

    def healthy(self) -> bool:
        keeper_ok = self.keeper is not None and self.keeper.poll() is None
        api_ok = not self.api_enabled or (self.api is not None and self.api.poll() is None)
        return keeper_ok and api_ok

    def start(self) -> None:
        """Take the addresses, then start the API and wait until it answers."""
        if self.running:
            self.stop(urgent=True)
        try:
            self._start_keeper()
            # the listeners' addresses (client gateways) right after the floating ones:
            # routed guest traffic need not wait for the API to answer
            self._tell(True)
            if self.api_enabled:
                self._start_api()
        except BackendError:
            self.stop(urgent=True)
            raise

    def _tell(self, primary: bool) -> None:
        for listener in self.listeners:
            try:
                listener(primary)
            except Exception:
                log.exception("A primary-role listener failed")

    def set_extra(self, wanted: set[tuple[str, Interface]]) -> list[str]:
        """Hold exactly these addresses besides the floating ones (only while the keeper
        runs); the errors met, one per address that could not be changed."""
        errors = []
        with self._keeper_lock:
            keeper = self.keeper
            if keeper is None or keeper.poll() is not None:
                self.extra = set()
                return ["no address keeper runs (this node is not primary)"]
            changes = [("del", a) for a in sorted(self.extra - wanted, key=str)] + [
                ("add", a) for a in sorted(wanted - self.extra, key=str)]
            for verb, (dev, addr) in changes:
                reply = self._ask_keeper(keeper, f"{verb} {dev}={addr}")
                if reply == "ok":
                    if verb == "add":
                        self.extra.add((dev, addr))
                    else:
                        self.extra.discard((dev, addr))
                else:
                    errors.append(f"{verb} {addr} on {dev}: {reply}")
        return errors

    def _answer(self, keeper: subprocess.Popen[bytes]) -> str:
        """The keeper's next line, or why there is none."""
        assert keeper.stdout is not None
        wait = self.config.takeover_timeout
        ready, _, _ = select.select([keeper.stdout], [], [], wait)
        return keeper.stdout.readline().decode().strip() if ready else f"no answer in {wait:g} s"

    def _ask_keeper(self, keeper: subprocess.Popen[bytes], line: str) -> str:
        assert keeper.stdin is not None
        try:
            keeper.stdin.write(line.encode() + b"\n")
            keeper.stdin.flush()
        except OSError as exc:
            return f"the keeper is gone ({exc})"
        return self._answer(keeper)

    def _start_keeper(self) -> None:
        args = [f"{dev}={addr}" for dev, addr in self.floating()]
        self.keeper = subprocess.Popen(
            [sys.executable, "-m", "pvc.node.primary.address_keeper", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        line = self._answer(self.keeper)
        if line != "ready":
            raise BackendError(f"Could not take the floating addresses: {line}")

    def _start_api(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_dir / "pvcapid.log", "ab")  # noqa: SIM115 - handed to the child
        cmd = list(self.api_command)
        if self.config.metadata_enabled:
            cmd.append("--metadata")
        if self.config.source:
            cmd += ["--config", str(self.config.source)]
        self.api = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out,
                                    stderr=subprocess.STDOUT)
        out.close()
        host = self.config.api_address
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        wait = self.api_wait()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise BackendError(f"pvcapid exited with code {self.api.returncode} on start")
            try:
                with socket.create_connection((host, self.config.api_port), timeout=0.2):
                    self.slow_api_starts = 0
                    return
            except OSError:
                time.sleep(0.03)
        self.slow_api_starts += 1
        raise BackendError(f"pvcapid did not start listening within {wait:g} s (the next "
                           f"takeover of this node waits {self.api_wait():g} s)")

    def stop(self, urgent: bool = False) -> None:
        """Stop the API and give the addresses back. `urgent` (session trouble) drops the
        addresses first; a planned handover stops the API first so clients are refused
        cleanly rather than left hanging."""
        was_running = self.running
        if urgent:
            self._release_addresses()
        if was_running:
            self._tell(False)
        if urgent:
            procs.stop(self.api, 1.0)
        else:
            procs.stop(self.api, 2.0)
            self._release_addresses()
        self.api = None

    def _release_addresses(self) -> None:
        with self._keeper_lock:
            procs.stop(self.keeper, 3.0, close_stdin=True)
            self.keeper = None
            self.extra = set()
        self.remove_stray_addresses()

    def remove_stray_addresses(self) -> None:
        """Remove floating addresses held without a keeper (after a crash, or if the keeper
        could not remove them)."""
        for dev, addr in self.floating():
            try:
                self.ip.remove_address(dev, addr)
            except BackendError as exc:
                log.error("Could not remove floating address %s from %s: %s", addr, dev, exc)

