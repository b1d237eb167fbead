"""API-key authentication: the `X-Api-Key` header, or a session cookie from `POST /login`.

Keys are the `api.token[].token` entries of pvc.conf; nothing is checked when
`api.authentication.enabled` is false. A session cookie is `<expiry>.<mac>`, the mac being
an HMAC (keyed by `api.authentication.secret_key`) of the expiry and one configured token:
it stays valid across API restarts and dies with its token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from pvc.common.config import Config
from pvc.common.errors import Unauthorized

API_KEY_HEADER = "X-Api-Key"
SESSION_COOKIE = "pvc_session"
SESSION_TTL = 24 * 3600

_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


def session_secret(config: Config) -> bytes:
    auth = config.raw.get("api", {}).get("authentication", {}) if config.raw else {}
    secret = auth.get("secret_key") if isinstance(auth, dict) else None
    return str(secret).encode() if secret else secrets.token_bytes(32)


def token_matches(config: Config, key: str) -> bool:
    given = key.encode("utf-8", errors="replace")
    return any(hmac.compare_digest(given, t.token.encode()) for t in config.api_tokens)


def _mac(secret: bytes, expires: int, token: str) -> str:
    msg = f"pvc-session:{expires}:{token}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def issue_session(secret: bytes, token: str, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + SESSION_TTL)
    return f"{expires}.{_mac(secret, expires, token)}"


def session_valid(config: Config, secret: bytes, value: str, now: float | None = None) -> bool:
    stamp, _, mac = value.partition(".")
    if not stamp.isdigit() or not mac:
        return False
    expires = int(stamp)
    if expires < (time.time() if now is None else now):
        return False
    return any(
        hmac.compare_digest(mac.encode(), _mac(secret, expires, t.token).encode())
        for t in config.api_tokens
    )


def require_auth(
    request: Request, api_key: Annotated[str | None, Security(_api_key)] = None
) -> None:
    """Dependency of every authenticated route."""
    config: Config = request.app.state.config
    if not config.api_auth_enabled:
        return
    if api_key is not None:
        if token_matches(config, api_key):
            return
        raise Unauthorized("X-Api-Key authentication failed: the key is not valid.")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and session_valid(config, request.app.state.session_secret, cookie):
        return
    raise Unauthorized("Authentication required: send a valid X-Api-Key header.")
