"""The client connection store and the connections it names.

The store is the file PVC clients share: `$PVC_CLIENT_DIR/pvc.json`, else
`~/.config/pvc/pvc.json`. It is a JSON object keyed by connection name; each entry is
either a static connection `{"description", "host", "port", "scheme", "api_key"}` or a
pointer to a daemon configuration `{"cfgfile": "/etc/pvc/pvc.conf"}` whose `api` section
gives the address, port, TLS setting and key. The `local` connection is built in: when
the store does not name it, it points at `/etc/pvc/pvc.conf` (or `$PVC_CONFIG_FILE`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pvc.common import config as pvc_config
from pvc.common.errors import InvalidArgument, NotFound

STORE_FILENAME = "pvc.json"
STORE_MODE = 0o600
LOCAL = "local"
API_PREFIX = "/api/v1"
DEFAULT_PORT = 7370

StoreData = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Connection:
    """Where one PVC API lives and how to authenticate to it."""

    name: str
    host: str
    port: int = DEFAULT_PORT
    scheme: str = "http"
    api_key: str | None = None
    description: str = ""
    prefix: str = API_PREFIX
    verify_ssl: bool = True
    cfgfile: str | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"


def store_dir() -> Path:
    client_dir = os.environ.get("PVC_CLIENT_DIR")
    if client_dir:
        return Path(client_dir)
    return Path.home() / ".config" / "pvc"


def store_path() -> Path:
    return store_dir() / STORE_FILENAME


def default_store() -> StoreData:
    """What a fresh store holds: the `local` connection only."""
    return {LOCAL: {"cfgfile": pvc_config.DEFAULT_CONFIG_FILE}}


def load_store(path: Path | None = None) -> StoreData:
    """The store's entries; a store that does not exist yet holds only `local`."""
    p = path or store_path()
    try:
        text = p.read_text()
    except FileNotFoundError:
        return default_store()
    except OSError as exc:
        raise InvalidArgument(f"Cannot read connection store {p}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"Connection store {p} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InvalidArgument(f"Connection store {p} must be a JSON object of objects")
    return data


def save_store(data: StoreData, path: Path | None = None) -> Path:
    """Write the store atomically with mode 600, creating its directory as needed."""
    p = path or store_path()
    try:
        p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".pvc.json.", dir=p.parent)
        try:
            os.fchmod(fd, STORE_MODE)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=2)
                fh.write("\n")
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        os.chmod(p, STORE_MODE)
    except OSError as exc:
        raise InvalidArgument(f"Cannot write connection store {p}: {exc.strerror}") from exc
    return p


def add_connection(
    name: str,
    host: str,
    *,
    port: int = DEFAULT_PORT,
    scheme: str = "http",
    api_key: str | None = None,
    description: str = "N/A",
    path: Path | None = None,
) -> Connection:
    """Add (or replace) a static connection in the store."""
    if not name or any(c.isspace() for c in name) or "/" in name:
        raise InvalidArgument(f"Invalid connection name {name!r}: no spaces or '/'")
    if not host or any(c.isspace() for c in host):
        raise InvalidArgument(f"Invalid API address {host!r}")
    if scheme not in ("http", "https"):
        raise InvalidArgument(f"Invalid scheme {scheme!r}: use http or https")
    if not 0 < port < 65536:
        raise InvalidArgument(f"Invalid port {port}: use 1-65535")
    data = load_store(path)
    data[name] = {
        "description": description,
        "host": host,
        "port": port,
        "scheme": scheme,
        "api_key": api_key,
    }
    save_store(data, path)
    return Connection(name, host, port, scheme, api_key, description)


def remove_connection(name: str, path: Path | None = None) -> None:
    data = load_store(path)
    if name not in data:
        raise NotFound(f'No connection "{name}" in the connection store {path or store_path()}')
    del data[name]
    save_store(data, path)


def _cfgfile_path(cfgfile: str) -> Path:
    # The default daemon configuration honours $PVC_CONFIG_FILE, as the daemons do.
    if cfgfile == pvc_config.DEFAULT_CONFIG_FILE:
        return pvc_config.config_path()
    return Path(cfgfile)


def from_config_file(name: str, cfgfile: str | Path) -> Connection:
    """A connection to the API described by a daemon configuration file (pvc.conf)."""
    path = _cfgfile_path(str(cfgfile))
    if not path.is_file():
        raise NotFound(
            f'Connection "{name}": no PVC configuration at {path}; '
            'add a connection with "pvc connection add" or pass -c/--connection'
        )
    cfg = pvc_config.load(path)
    address = cfg.api_address
    if address in ("0.0.0.0", ""):
        address = "127.0.0.1"
    elif address in ("::", "[::]"):
        address = "::1"
    api_key: str | None = None
    auth = cfg.raw.get("api", {}).get("authentication", {}) if isinstance(cfg.raw, dict) else {}
    source = str(auth.get("source", "token")) if isinstance(auth, dict) else "token"
    if cfg.api_auth_enabled and source == "token" and cfg.api_tokens:
        api_key = cfg.api_tokens[0].token
    return Connection(
        name=name,
        host=address,
        port=cfg.api_port,
        scheme="https" if cfg.api_ssl_enabled else "http",
        api_key=api_key,
        description=f"{cfg.cluster_name} ({path})",
        verify_ssl=False,
        cfgfile=str(path),
    )


def _verify_ssl_default() -> bool:
    value = os.environ.get("PVC_CLIENT_VERIFY_SSL", "true").strip().lower()
    return value not in ("0", "false", "no", "off")


def from_entry(name: str, entry: dict[str, Any]) -> Connection:
    """A connection from one store entry (static or cfgfile)."""
    if entry.get("cfgfile"):
        return from_config_file(name, str(entry["cfgfile"]))
    host = entry.get("host")
    if not host:
        raise InvalidArgument(f'Connection "{name}" in the store has no host')
    try:
        port = int(entry.get("port", DEFAULT_PORT))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f'Connection "{name}" has an invalid port') from exc
    key = entry.get("api_key")
    return Connection(
        name=name,
        host=str(host),
        port=port,
        scheme=str(entry.get("scheme") or "http"),
        api_key=str(key) if key else None,
        description=str(entry.get("description") or ""),
        verify_ssl=_verify_ssl_default(),
    )


def resolve(name: str = LOCAL, path: Path | None = None) -> Connection:
    """The connection called `name`: from the store, or the built-in `local`."""
    data = load_store(path)
    if name in data:
        return from_entry(name, data[name])
    if name == LOCAL:
        return from_config_file(LOCAL, pvc_config.DEFAULT_CONFIG_FILE)
    known = ", ".join(sorted(data)) or "none"
    raise NotFound(
        f'No connection "{name}" in the connection store {path or store_path()} '
        f'(known: {known}); add it with "pvc connection add"'
    )
