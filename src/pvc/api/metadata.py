"""The cloud-init metadata service (EC2 style): what a guest asks 169.254.169.254 on its
gateway, the primary, about itself. The caller is known by its address only
(`pvc.ops.provisioner.callers`): a caller that leads to no single VM gets 404 and no VM's
data. Served: the meta-data index, `instance-id` (the VM's UUID), `local-hostname` and
`name` (its name), `profile`, and `user-data` (its profile's userdata, or an empty
document).

Paths take any version cloud-init asks for (`latest` or a date such as 2009-04-04).
Answers are text, as EC2's are. No API key: the guest has none; what it can learn is only
about itself.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from pvc.common.errors import NotFound, PVCError
from pvc.db.prepared import PreparedDatabase  # light: the database loads in the background
from pvc.ops.provisioner.callers import Caller, find_caller
from pvc.state.store import Store

VERSION = re.compile(r"latest|\d{4}-\d{2}-\d{2}")
KEYS = ("instance-id", "local-hostname", "name", "profile")


def _value(caller: Caller, key: str) -> str:
    return {"instance-id": caller.uuid, "local-hostname": caller.name, "name": caller.name,
            "profile": caller.profile}[key]


def create_metadata_app(store: Store, database: PreparedDatabase | None) -> FastAPI:
    app = FastAPI(title="PVC metadata", openapi_url=None, docs_url=None, redoc_url=None)

    def caller_of(request: Request, version: str) -> Caller:
        if not VERSION.fullmatch(version):
            raise NotFound(f"No metadata version {version!r}")
        host = request.client.host if request.client else ""
        return find_caller(store, host)

    @app.exception_handler(PVCError)
    def refused(request: Request, exc: PVCError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 503
        return PlainTextResponse(f"{exc}\n", status_code=status)

    @app.get("/", response_class=PlainTextResponse)
    def versions() -> str:
        return "latest\n"

    @app.get("/{version}/meta-data", response_class=PlainTextResponse)
    @app.get("/{version}/meta-data/", response_class=PlainTextResponse)
    def index(request: Request, version: str) -> str:
        caller_of(request, version)
        return "\n".join(KEYS) + "\n"

    @app.get("/{version}/meta-data/{key}", response_class=PlainTextResponse)
    def meta(request: Request, version: str, key: str) -> str:
        caller = caller_of(request, version)
        if key not in KEYS:
            raise NotFound(f"No meta-data key {key!r}")
        return _value(caller, key)

    @app.get("/{version}/user-data")
    def user_data(request: Request, version: str) -> Response:
        caller = caller_of(request, version)
        document = ""
        if caller.profile:
            if database is None:
                raise PVCError("The provisioner database is not configured")
            from pvc.ops.provisioner import profiles  # with SQLAlchemy: loaded on first use

            try:
                document = profiles.userdata_of(database.get(), caller.profile)
            except NotFound:
                document = ""  # the profile was removed since the VM was made
        return Response(document.encode(), media_type="text/plain; charset=utf-8")

    return app
