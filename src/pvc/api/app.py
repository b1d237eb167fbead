"""The application factory of pvcapid."""

from __future__ import annotations

import threading

from fastapi import Depends, FastAPI

from pvc import __version__
from pvc.api import auth, errors, root
from pvc.api.cluster import faults as fault_routes
from pvc.api.cluster import router as cluster
from pvc.api.forms import FormToQuery
from pvc.api.metrics import router as metrics
from pvc.api.network import router as network
from pvc.api.network import sriov
from pvc.api.node import router as node
from pvc.api.provisioner import create as provisioner_create
from pvc.api.provisioner import documents as provisioner_documents
from pvc.api.provisioner import ova as provisioner_ova
from pvc.api.provisioner import profiles as provisioner_profiles
from pvc.api.provisioner import system as provisioner_system
from pvc.api.provisioner import templates as provisioner_templates
from pvc.api.shutdown import AnswerCutShort
from pvc.api.storage import benchmark as storage_benchmark
from pvc.api.storage import router as storage_routes
from pvc.api.storage import volumes as storage_volume
from pvc.api.tasks import router as task_routes
from pvc.api.vm import control as vm_control
from pvc.api.vm import devices as vm_devices
from pvc.api.vm import listing as vm_listing
from pvc.api.vm import locks as vm_locks
from pvc.api.vm import router as vm
from pvc.common.config import Config
from pvc.db.prepared import PreparedDatabase  # light: the database loads in the background
from pvc.ops.storage.backend import Storage
from pvc.state.store import Store

PREFIX = "/api/v1"


def create_app(config: Config, store: Store, storage: Storage | None = None,
               stopping: threading.Event | None = None,
               database: PreparedDatabase | None = None) -> FastAPI:
    """The PVC v1 API on `store`, configured by `config` (auth, tokens, metrics). Storage
    endpoints use `storage`, provisioner endpoints `database` (None: they answer 503).
    Once `stopping` is set, waits for an outcome (`wait=true`) end at once with 503."""
    app = FastAPI(
        title="PVC API",
        version=__version__,
        description="The PVC v1 HTTP API: cluster, nodes and metrics.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=f"{PREFIX}/redoc",
    )
    app.state.config = config
    app.state.store = store
    app.state.storage = storage
    app.state.database = database
    app.state.stopping = stopping or threading.Event()
    app.state.vm_listing = vm_listing.new_cache()
    app.state.session_secret = auth.session_secret(config)
    errors.install(app)
    authenticated = [Depends(auth.require_auth)]
    app.include_router(root.router, prefix=PREFIX)
    app.include_router(metrics.router, prefix=PREFIX)
    app.include_router(cluster.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(node.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(fault_routes.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(vm.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(vm_control.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(vm_locks.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(vm_devices.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(task_routes.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(network.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(sriov.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(storage_routes.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(storage_volume.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(storage_benchmark.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(provisioner_system.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(provisioner_templates.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(provisioner_documents.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(provisioner_profiles.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(provisioner_create.router, prefix=PREFIX, dependencies=authenticated)
    app.include_router(provisioner_ova.router, prefix=PREFIX, dependencies=authenticated)
    app.add_middleware(FormToQuery)
    app.add_middleware(AnswerCutShort)  # outermost: sees every cancelled request
    return app
