"""Events (issue 17): list with filters and paging; acknowledge one into the baseline (write scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from otscope.api.deps import Read, SessionDep, Write
from otscope.api.event_schemas import EventOut, EventPage
from otscope.collector import events
from otscope.collector.uow import unit_of_work

router = APIRouter(prefix="/api/v1/events", tags=["events"])

KIND_RE = "^(" + "|".join(events.KINDS) + ")$"
SEV_RE = "^(" + "|".join(events.SEVERITIES) + ")$"


@router.get("", response_model=EventPage, dependencies=[Read])
def list_events(
    s: SessionDep,
    kind: Annotated[str | None, Query(pattern=KIND_RE)] = None,
    asset: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="asset id (as asset or client)")] = None,
    severity: Annotated[str | None, Query(pattern=SEV_RE)] = None,
    since: Annotated[str | None, Query(max_length=64, description="epoch seconds or ISO 8601")] = None,
    learning: bool | None = None,
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    try:
        t = events.parse_since(since) if since is not None else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    rows, count = events.list_events(s, events.EventFilter(kind, asset, severity, t, learning, acknowledged),
                                     limit=limit, offset=offset)
    names = events.labels(s, [i for r in rows for i in (r.asset_id, r.client_id)])
    return {"data": [events.as_dict(r, names) for r in rows], "count": count}


@router.post("/{event_id}/ack", response_model=EventOut, dependencies=[Write],
             responses={404: {"description": "no such event"}})
def acknowledge(event_id: Annotated[int, Path(ge=1, le=2**31 - 1)], s: SessionDep) -> dict:
    """Accept an event into the baseline: marked acknowledged; the same (kind, asset, client, detail) is not
    raised again."""
    with unit_of_work(s):
        row = events.acknowledge(s, event_id, "api")
        if row is None:
            raise HTTPException(404, "no such event")
        out = events.as_dict(row, events.labels(s, [row.asset_id, row.client_id]))
    return out
