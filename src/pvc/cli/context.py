"""The state one `pvc` invocation carries: global flags and the API client.

Tests pass their own `CliState` as Click's `obj` to inject a transport and fake time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx

from pvc.cli.output import info
from pvc.client import ApiClient, Connection, resolve

# PVC's node commands default to the host they run on.
DEFAULT_NODE = socket.gethostname().split(".")[0]


@dataclass
class CliState:
    connection: str = "local"
    quiet: bool = False
    unsafe: bool = False
    colour: bool = False
    store: Path | None = None  # connection store file; None = the standard location
    timeout: float = 30.0
    wait_timeout: float = 120.0  # --wait on a node state change
    poll_interval: float = 1.0  # --wait and log --follow
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _client: ApiClient | None = field(default=None, repr=False)

    def client_for(self, conn: Connection, **kwargs: Any) -> ApiClient:
        """A client of `conn` using this invocation's transport and clock."""
        kwargs.setdefault("timeout", self.timeout)
        return ApiClient(
            conn, transport=self.transport, sleep=self.sleep, clock=self.clock, **kwargs
        )

    def api(self) -> ApiClient:
        """The client of the selected connection; prints the banner the first time."""
        if self._client is None:
            conn = resolve(self.connection, self.store)
            if not self.quiet:
                info(
                    f'Using connection "{conn.name}" - Host: "{conn.host}" '
                    f'Scheme: "{conn.scheme}" Prefix: "{conn.prefix}"'
                )
                info("")
            self._client = self.client_for(conn)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def get_state() -> CliState:
    ctx = click.get_current_context()
    return ctx.ensure_object(CliState)


pass_state = click.make_pass_decorator(CliState, ensure=True)
