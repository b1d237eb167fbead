"""The `dev` connection in the invoking user's PVC connection store (not root's, when
pvc-dev runs under sudo)."""

from __future__ import annotations

import contextlib
import os
import pwd
from pathlib import Path

from pvc.client import connections
from pvc.common.errors import NotFound
from pvc.devcluster.layout import ClusterSpec


def _user() -> pwd.struct_passwd:
    name = os.environ.get("SUDO_USER")
    if name:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    return pwd.getpwuid(os.getuid())


def store_file() -> Path:
    if os.environ.get("PVC_CLIENT_DIR"):
        return connections.store_path()
    return Path(_user().pw_dir) / ".config" / "pvc" / connections.STORE_FILENAME


def _chown(path: Path) -> None:
    user = _user()
    if os.getuid() == 0 and user.pw_uid != 0:
        for p in (path.parent.parent, path.parent, path):
            if p.exists() and p.stat().st_uid == 0:
                os.chown(p, user.pw_uid, user.pw_gid)


def write(spec: ClusterSpec) -> Path:
    path = store_file()
    connections.add_connection(
        spec.name, str(spec.floating_address("upstream")), port=7370, scheme="http",
        api_key=spec.api_key, description=f"pvc-dev cluster {spec.name}", path=path,
    )
    _chown(path)
    return path


def remove(spec: ClusterSpec) -> None:
    """Forget the connection if it still points at this cluster."""
    path = store_file()
    entry = connections.load_store(path).get(spec.name, {})
    if entry.get("host") == str(spec.floating_address("upstream")):
        with contextlib.suppress(NotFound):
            connections.remove_connection(spec.name, path)
