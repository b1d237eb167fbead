"""`GET /vm` at scale: each VM's answer is rendered once and kept until the VM changes
(`RecordCache`), so listing 10,000 VMs joins kept answers instead of reading and
rendering every VM again."""

from __future__ import annotations

import json
from typing import cast

from fastapi import Request, Response

from pvc.api.vm import views as vm_views
from pvc.ops.vm.records import RecordCache, VmRecord


def render(rec: VmRecord) -> bytes:
    """One VM's `GET /vm` item, as JSONResponse would encode it."""
    return json.dumps(vm_views.vm(rec), ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


def new_cache() -> RecordCache[bytes]:
    """The cache of one app (each app has its own store): `create_app` makes it."""
    return RecordCache(render)


def cache_of(request: Request) -> RecordCache[bytes]:
    return cast(RecordCache[bytes], request.app.state.vm_listing)


def answer(items: list[bytes]) -> Response:
    return Response(b"[" + b",".join(items) + b"]", media_type="application/json")
