"""Request dependencies: the app's configuration and state store."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from pvc.common.config import Config
from pvc.common.errors import Unavailable
from pvc.ops.storage.backend import Storage
from pvc.state.store import Store


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


ConfigDep = Annotated[Config, Depends(get_config)]
StoreDep = Annotated[Store, Depends(get_store)]
StorageDep = Annotated[Storage, Depends(get_storage)]
OptionalStorageDep = Annotated["Storage | None", Depends(get_optional_storage)]
