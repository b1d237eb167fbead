"""nftables through libnftables (Debian's python3-nftables), in this process's network
namespace. A ruleset is applied as one transaction: nftables checks all of it first and
either every table is replaced or nothing changes."""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

from pvc.common.errors import BackendError, InvalidArgument


class Firewall(Protocol):
    def apply(self, ruleset: str) -> None: ...

    def check(self, ruleset: str) -> None: ...

    def tables(self) -> list[str]: ...


class NftFirewall:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # one libnftables context, used by one thread at once

    def _run(self, text: str, dry_run: bool = False, as_json: bool = False) -> str:
        import nftables

        with self._lock:
            nft = nftables.Nftables()
            nft.set_json_output(as_json)
            nft.set_dry_run(dry_run)
            try:
                rc, output, error = nft.cmd(text)
            except Exception as exc:
                raise BackendError(f"nftables failed: {exc!r}") from exc
        if rc != 0:
            # libnftables checks the whole transaction before it changes anything
            raise (InvalidArgument if dry_run else BackendError)(
                f"nftables refused the ruleset: {error.strip()}")
        return str(output)

    def apply(self, ruleset: str) -> None:
        self._run(ruleset)

    def check(self, ruleset: str) -> None:
        self._run(ruleset, dry_run=True)

    def tables(self) -> list[str]:
        """`family name` of each table."""
        data: dict[str, Any] = json.loads(self._run("list tables", as_json=True) or "{}")
        return [f"{item['table']['family']} {item['table']['name']}"
                for item in data.get("nftables", []) if "table" in item]

    def ruleset(self, family: str, table: str) -> str:
        return self._run(f"list table {family} {table}")
