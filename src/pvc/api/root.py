"""`GET /` (the API version), `POST /login` and `POST /logout` (session cookies)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from pvc.api import auth, schemas
from pvc.api.deps import ConfigDep
from pvc.api.views import API_VERSION
from pvc.common.errors import Unauthorized

router = APIRouter(tags=["root"])

_DISABLED: dict[int | str, dict[str, Any]] = {
    302: {"description": "Authentication is disabled: redirect to the API root"}
}


@router.get("/", response_model=schemas.Message)
def api_root() -> schemas.Message:
    """The PVC API version string."""
    return schemas.Message(message=f"PVC API version {API_VERSION}")


@router.post(
    "/login",
    response_model=schemas.Message,
    responses={**schemas.AUTH_ERRORS, **_DISABLED},
)
def login(
    request: Request,
    response: Response,
    config: ConfigDep,
    token: Annotated[str, Query(description="An API token of pvc.conf")],
) -> schemas.Message | RedirectResponse:
    """Start a session: sets a cookie that authenticates later requests."""
    if not config.api_auth_enabled:
        return RedirectResponse(request.url_for("api_root"), status_code=302)
    if not auth.token_matches(config, token):
        raise Unauthorized("Authentication failed: the token is not valid.")
    response.set_cookie(
        auth.SESSION_COOKIE,
        auth.issue_session(request.app.state.session_secret, token),
        max_age=auth.SESSION_TTL,
        httponly=True,
        samesite="strict",
        secure=config.api_ssl_enabled,
        path="/api/v1",
    )
    return schemas.Message(message="Logged in; the session cookie authenticates you.")


@router.post("/logout", response_model=schemas.Message, responses=_DISABLED)
def logout(
    request: Request, response: Response, config: ConfigDep
) -> schemas.Message | RedirectResponse:
    """End a session: clears the session cookie."""
    if not config.api_auth_enabled:
        return RedirectResponse(request.url_for("api_root"), status_code=302)
    response.delete_cookie(auth.SESSION_COOKIE, path="/api/v1")
    return schemas.Message(message="Logged out; the session cookie is cleared.")
