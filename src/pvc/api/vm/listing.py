"""`GET /vm` at scale: each VM's answer is rendered once and kept until the VM changes
(`RecordCache`), so listing 10,000 VMs joins kept answers instead of reading and
rendering every VM again."""

from __future__ import annotations

import json
import threading
from typing import cast

from fastapi import Request, Response

from pvc.api.vm import views as vm_views
from pvc.ops.vm.records import RecordCache, VmRecord

_LOCK = threading.Lock()


def render(rec: VmRecord) -> bytes:
    """One VM's `GET /vm` item, as JSONResponse would encode it."""
    return json.dumps(vm_views.vm(rec), ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


def cache_of(request: Request) -> RecordCache[bytes]:
    """This app's cache (one per app: each has its own store)."""
    state = request.app.state
    with _LOCK:
        if getattr(state, "vm_listing", None) is None:
            state.vm_listing = RecordCache(render)
        return cast(RecordCache[bytes], state.vm_listing)


def answer(items: list[bytes]) -> Response:
    return Response(b"[" + b",".join(items) + b"]", media_type="application/json")
