"""Bearer tokens with scopes, stored hashed (SHA-256 of a 256-bit random token: no salt needed).

A token can be given an expiry when it is created and revoked later; an expired or revoked token is refused
like an unknown one. Listing shows a token's id, label, scope and dates, never the token or its hash.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from otscope.collector.models import ApiToken

MAX_LIFETIME_S = 10 * 365 * 86400


class Scope(IntEnum):
    READ = 1
    WRITE = 2
    ADMIN = 3


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    scope: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(s: Session, scope: Scope, name: str = "", lifetime_s: float | None = None) -> str:
    """A new token, returned once; ``lifetime_s`` (seconds, None = no expiry) bounds how long it is valid."""
    if lifetime_s is not None and not 0 < lifetime_s <= MAX_LIFETIME_S:
        raise ValueError(f"a token's lifetime must be between 1 second and {MAX_LIFETIME_S // 86400} days")
    now = time.time()
    token = "ots_" + secrets.token_urlsafe(32)
    s.add(ApiToken(name=name[:128] or scope.name.lower(), token_hash=hash_token(token), scope=scope.name.lower(),
                   created_at=now, expires_at=None if lifetime_s is None else now + lifetime_s))
    return token


def _valid(now: float):  # type: ignore[no-untyped-def]
    return (ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))


def scope_of(s: Session, token: str) -> Scope | None:
    """The scope of a valid token (known, not revoked, not expired), else None."""
    row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token), *_valid(time.time())))
    return Scope[row.scope.upper()] if row else None


def tokens_configured(s: Session) -> bool:
    """Any token ever made and not revoked (an expired token still means the operator wants auth)."""
    return (s.scalar(select(func.count(ApiToken.id)).where(ApiToken.revoked_at.is_(None))) or 0) > 0


def _info(t: ApiToken) -> TokenInfo:
    return TokenInfo(t.id, t.name, t.scope, t.created_at, t.expires_at, t.revoked_at)


def list_tokens(s: Session) -> list[TokenInfo]:
    return [_info(t) for t in s.scalars(select(ApiToken).order_by(ApiToken.id))]


def info_of(s: Session, token: str | None = None, token_id: int | None = None) -> TokenInfo | None:
    """A token's listing entry, found by the token itself or by its id."""
    if token is not None:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    else:
        row = s.get(ApiToken, token_id) if token_id is not None else None
    return _info(row) if row is not None else None


def revoke_token(s: Session, token_id: int) -> bool:
    """Revoke a token by its id; False when there is no such token. Revoking twice keeps the first time."""
    row = s.get(ApiToken, token_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = time.time()
    return True
