"""The `pvc` CLI end to end against the real API, on a real ZooKeeper and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pvc.cli.context import CliState
from pvc.cli.main import cli
from pvc.db.engine import Database
from pvc.db.prepared import PreparedDatabase
from pvc.state.store import Store
from tests.integration.api.support import TOKEN, client, standard_cluster

Run = Callable[..., Result]


@pytest.fixture
def pvc(store: Store, db: Database, tmp_path: Path) -> Iterator[Run]:
    """`pvc(*args, safe=False, stdin=None)`: the CLI on connection `t` (unsafe, so removes
    need no confirmation, unless `safe`), against the standard cluster and a provisioner
    database."""
    standard_cluster(store)
    prepared = PreparedDatabase(db.spec).start()
    conns = tmp_path / "pvc.json"
    conns.write_text(json.dumps({"t": {"host": "testserver", "port": 80, "scheme": "http",
                                       "api_key": TOKEN}}))
    transport = client(store, headers=None, database=prepared)._transport

    def run(*args: str, safe: bool = False, stdin: str | None = None) -> Result:
        state = CliState(store=conns, transport=transport)
        flags = ["-q", "-c", "t"] if safe else ["-q", "-u", "-c", "t"]
        return CliRunner().invoke(cli, [*flags, *args], obj=state, input=stdin)

    try:
        yield run
    finally:
        prepared.close()
