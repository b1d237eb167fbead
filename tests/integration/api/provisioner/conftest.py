"""The provisioner's API on a real PostgreSQL (its schema made by the API's own background
preparation) and ZooKeeper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pvc.db.engine import Database
from pvc.db.prepared import PreparedDatabase
from pvc.state.store import Store
from tests.integration.api.support import client, standard_cluster


@pytest.fixture
def c(store: Store, db: Database) -> Iterator[TestClient]:
    standard_cluster(store)
    prepared = PreparedDatabase(db.spec).start()
    try:
        yield client(store, database=prepared)
    finally:
        prepared.close()
