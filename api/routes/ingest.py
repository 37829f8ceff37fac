from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from otscope.api.deps import SessionDep, Write, read_body
from otscope.api.schemas import IngestOut
from otscope.collector import events
from otscope.collector.service import IngestResult, apply_batch
from otscope.collector.uow import unit_of_work
from otscope.contract import Batch, ContractError, batch_from_json

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])


@router.post("", response_model=IngestOut, dependencies=[Write],
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "description": "an observation batch (otscope/contract.py)"}}}}})
async def ingest(request: Request, s: SessionDep) -> dict:
    """Apply one observation batch; the same (sensor, batch_id) is applied once (idempotent)."""
    body = await read_body(request, request.app.state.settings.max_batch_bytes, "batch")
    try:
        batch = batch_from_json(body)
    except ContractError as exc:
        raise HTTPException(422, str(exc)) from None
    # the merge is database work: run it in the thread pool, so the event loop keeps answering other requests
    # (reads, /healthz) while a large batch is applied
    res = await run_in_threadpool(_apply, s, batch)
    return {"status": res.status, "observations": res.observations}


def _apply(s: Session, batch: Batch) -> IngestResult:
    with unit_of_work(s):
        res = apply_batch(s, batch)
    events.publish(s, res.events)           # after the commit: an output never holds the transaction
    return res
