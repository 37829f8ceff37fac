"""Dependencies: a session per request, and bearer-token authorisation by scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from otscope.api.security import Scope, scope_of, tokens_configured
from otscope.api.settings import Settings

bearer = HTTPBearer(auto_error=False, description="otscope API token (otscope token create --scope read)")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session)]


def require(scope: Scope) -> Callable[..., Scope]:
    """Read routes are open only for local read-only use: bound to loopback and no token configured.
    Everything else needs a token whose scope covers the route (401 without one, 403 when too weak)."""

    def check(request: Request, s: SessionDep,
              cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Scope:
        settings: Settings = request.app.state.settings
        if cred is None or not cred.credentials:
            if scope is Scope.READ and not settings.require_auth and not tokens_configured(s):
                return Scope.READ
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        granted = scope_of(s, cred.credentials)
        if granted is None:
            raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        if granted < scope:
            raise HTTPException(403, f"this token's scope ({granted.name.lower()}) does not allow "
                                     f"{scope.name.lower()}")
        return granted

    return check


Read = Depends(require(Scope.READ))
Write = Depends(require(Scope.WRITE))
Admin = Depends(require(Scope.ADMIN))


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (never buffered whole first)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"{what} larger than {limit} bytes")
    return bytes(body)
