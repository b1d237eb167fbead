"""Request dependencies: the app's configuration, state store and storage, and whether
the API is stopping (a wait for an outcome then ends early, answered 503)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import Depends, Request

from pvc.common.config import Config
from pvc.common.errors import Unavailable
from pvc.ops.storage.backend import Storage
from pvc.state.store import Store

if TYPE_CHECKING:  # loaded in the background (pvc.db.prepared)
    from pvc.db.engine import Database
    from pvc.db.prepared import PreparedDatabase


def get_config(request: Request) -> Config:
    return cast(Config, request.app.state.config)


def get_store(request: Request) -> Store:
    return cast(Store, request.app.state.store)


def get_storage(request: Request) -> Storage:
    storage = getattr(request.app.state, "storage", None)
    if storage is None:
        raise Unavailable("The storage subsystem is not enabled on this cluster "
                          "(subsystem.enable_storage in pvc.conf)")
    return cast(Storage, storage)


def get_optional_storage(request: Request) -> Storage | None:
    return cast("Storage | None", getattr(request.app.state, "storage", None))


def get_database(request: Request) -> Database:
    prepared = getattr(request.app.state, "database", None)
    if prepared is None:
        raise Unavailable("The provisioner is not enabled on this cluster (no "
                          "database.postgres.credentials.api.password in pvc.conf)")
    return cast("PreparedDatabase", prepared).get()


def get_stopping(request: Request) -> Callable[[], bool]:
    """Whether this API is stopping (pvcapid was told to exit: the primary moves)."""
    stopping = getattr(request.app.state, "stopping", None)
    return stopping.is_set if stopping is not None else (lambda: False)


ConfigDep = Annotated[Config, Depends(get_config)]
StoppingDep = Annotated[Callable[[], bool], Depends(get_stopping)]
StoreDep = Annotated[Store, Depends(get_store)]
StorageDep = Annotated[Storage, Depends(get_storage)]
# the database's type is named lazily (loading it costs the API's start ~1 s)
DatabaseDep = Annotated[Any, Depends(get_database)]
OptionalStorageDep = Annotated["Storage | None", Depends(get_optional_storage)]
