"""The bootstrap daemon's HTTP API (on the bootstrap network's address, port 9999):

    POST /checkin/dnsmasq?action=&mac=&ip=   dnsmasq's lease hook
    POST /checkin/host                       the installer and the first boot (JSON:
                                             hostname, mac, stage, message)
    GET  /boot.ipxe                          iPXE's first script: chains to /boot/<mac>
    GET  /boot/<mac>                         install this NIC's node, or boot the disk
    GET  /answers/<mac>                      the installer's answer file
    GET  /netboot/<file>                     the installer's kernel, initrd and ISO
    GET  /status                             every cluster and node, with its stage
    GET  /events?after=<id>                  what happened, in order
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from pvc.bootstrap import netboot
from pvc.bootstrap.service import Bootstrap
from pvc.common.errors import InvalidArgument, NotFound, PVCError

NETBOOT_NAMES = (*netboot.NETBOOT_FILES, netboot.ISO_NAME)


class HostCheckin(BaseModel):
    hostname: str = Field(max_length=253)
    mac: str = Field(max_length=40)
    stage: str = Field(max_length=40)
    message: str = Field(default="", max_length=4000)


def make_app(service: Bootstrap, netboot_dir: Path) -> FastAPI:
    app = FastAPI(title="pvcbootstrapd", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(PVCError)
    async def pvc_error(_: Request, exc: PVCError) -> JSONResponse:
        code = 404 if isinstance(exc, NotFound) else 400 if isinstance(
            exc, InvalidArgument) else 500
        return JSONResponse({"message": exc.message}, status_code=code)

    @app.exception_handler(ValueError)
    async def value_error(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"message": str(exc)}, status_code=400)

    @app.post("/checkin/dnsmasq")
    def checkin_dnsmasq(action: str, mac: str, ip: str) -> dict[str, str]:
        service.lease(action, mac, ip)
        return {"message": "recorded"}

    @app.post("/checkin/host")
    def checkin_host(body: HostCheckin) -> dict[str, str]:
        service.host_checkin(body.hostname, body.mac, body.stage, body.message)
        return {"message": "recorded"}

    @app.get("/boot.ipxe", response_class=PlainTextResponse)
    def chain() -> str:
        return netboot.CHAIN_SCRIPT.format(base=service.settings.http_base)

    @app.get("/boot/{mac}", response_class=PlainTextResponse)
    def boot(mac: str) -> str:
        return service.boot_script(mac)

    @app.get("/answers/{mac}", response_class=PlainTextResponse)
    def answers(mac: str) -> str:
        return service.answers(mac)

    @app.get("/netboot/{name}")
    def netboot_file(name: str) -> FileResponse:
        if name not in NETBOOT_NAMES or not (netboot_dir / name).exists():
            raise NotFound(f"no netboot file {name[:60]!r} (there are: "
                           f"{', '.join(NETBOOT_NAMES)})")
        return FileResponse(netboot_dir / name, media_type="application/octet-stream")

    @app.get("/status")
    def status() -> dict[str, Any]:
        return service.status()

    @app.get("/events")
    def events(after: int = 0) -> list[dict[str, Any]]:
        return [vars(e) for e in service.store.events(after)]

    return app
