"""`pvcapid`: the PVC v1 HTTP API (FastAPI). The top level holds the app factory, entry point,
authentication, request dependencies, error mapping and form/multipart handling; each resource
has a package with its router(s), and wire shapes beside them where they are its own.
"""
