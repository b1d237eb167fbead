"""Request dependencies: the app's configuration and state store."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from pvc.common.config import Config
from pvc.state.store import Store


def get_config(request: Request) -> Config:
    return cast(Config, request.app.state.config)


def get_store(request: Request) -> Store:
    return cast(Store, request.app.state.store)


ConfigDep = Annotated[Config, Depends(get_config)]
StoreDep = Annotated[Store, Depends(get_store)]
