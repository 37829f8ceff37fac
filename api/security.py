"""Bearer tokens with scopes, stored hashed (SHA-256 of a 256-bit random token: no salt needed)."""

from __future__ import annotations

import hashlib
import secrets
import time
from enum import IntEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from otscope.collector.models import ApiToken


class Scope(IntEnum):
    READ = 1
    WRITE = 2
    ADMIN = 3


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(s: Session, scope: Scope, name: str = "") -> str:
    token = "ots_" + secrets.token_urlsafe(32)
    s.add(ApiToken(name=name[:128] or scope.name.lower(), token_hash=hash_token(token), scope=scope.name.lower(),
                   created_at=time.time()))
    return token


def scope_of(s: Session, token: str) -> Scope | None:
    row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    return Scope[row.scope.upper()] if row else None


def tokens_configured(s: Session) -> bool:
    return (s.scalar(select(func.count(ApiToken.id))) or 0) > 0
