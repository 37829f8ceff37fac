"""API tokens (admin scope): list, create with an expiry, revoke."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException

from otscope.api.deps import Admin, SessionDep
from otscope.api.schemas import TokenCreate, TokenCreated, TokenOut
from otscope.api.security import Scope, TokenInfo, create_token, info_of, list_tokens, revoke_token
from otscope.collector.queries import iso
from otscope.collector.uow import unit_of_work

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


def _out(t: TokenInfo, now: float) -> dict:
    return {"id": t.id, "name": t.name, "scope": t.scope, "state": t.state(now), "created_at": iso(t.created_at),
            "expires_at": iso(t.expires_at) if t.expires_at is not None else None,
            "revoked_at": iso(t.revoked_at) if t.revoked_at is not None else None}


@router.get("", response_model=list[TokenOut], dependencies=[Admin])
def tokens(s: SessionDep) -> list[dict]:
    now = time.time()
    return [_out(t, now) for t in list_tokens(s)]


@router.post("", response_model=TokenCreated, status_code=201, dependencies=[Admin])
def create(body: TokenCreate, s: SessionDep) -> dict:
    lifetime = body.expires_in_days * 86400 if body.expires_in_days is not None else None
    with unit_of_work(s):
        token = create_token(s, Scope[body.scope.upper()], body.name, lifetime)
    made = info_of(s, token=token)
    assert made is not None
    return {**_out(made, time.time()), "token": token}


@router.delete("/{token_id}", response_model=TokenOut, dependencies=[Admin])
def revoke(token_id: int, s: SessionDep) -> dict:
    with unit_of_work(s):
        if not 0 < token_id < 1 << 62 or not revoke_token(s, token_id):
            raise HTTPException(404, "no such token")
    t = info_of(s, token_id=token_id)
    assert t is not None
    return _out(t, time.time())
