from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from otscope.api.deps import Read, SessionDep, Write, read_body
from otscope.api.schemas import Reconciliation, RegisterUpload
from otscope.collector import register
from otscope.collector.uow import unit_of_work

router = APIRouter(prefix="/api/v1/register", tags=["register"])


@router.post("", response_model=RegisterUpload, dependencies=[Write],
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {
                 "type": "string", "description": "CSV with columns name, ip, mac, vendor, model, firmware, "
                                                  "location (ip or mac required)"}}}}})
async def upload_register(request: Request, s: SessionDep) -> dict:
    """Replace the expected-asset register with an uploaded CSV."""
    body = await read_body(request, request.app.state.settings.max_upload_bytes, "register")
    try:
        rows, rejected = register.parse_csv(body)
    except register.RegisterError as exc:
        raise HTTPException(422, str(exc)) from None
    n = await run_in_threadpool(_replace, s, rows)
    return {"imported": n, "rejected": rejected[:100]}


def _replace(s: Session, rows: list[dict[str, str | None]]) -> int:
    with unit_of_work(s):
        return register.replace(s, rows)


@router.get("/reconciliation", response_model=Reconciliation, dependencies=[Read])
def reconciliation(s: SessionDep) -> dict:
    return register.reconcile(s)
