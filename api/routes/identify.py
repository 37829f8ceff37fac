"""Active identification (issue 19, admin scope): start a job, read its status, stop it.

The server only identifies inside the ranges its operator configured (``OTSCOPE_IDENTIFY_ALLOW``, comma
separated CIDRs): without it every request is refused, so an admin token alone cannot make the server send.
The job runs in a background thread with the same engine as ``otscope identify``.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials

from otscope.active.job import IdentifyConfig, Jobs, prepare
from otscope.active.plan import PlanRequest
from otscope.active.safety import Egress, Refused
from otscope.api.deps import Admin, SessionDep, bearer
from otscope.api.identify_schemas import IdentifyJobOut, IdentifyRequest
from otscope.api.security import info_of

router = APIRouter(prefix="/api/v1/identify", tags=["identify"])
JOB_RE = r"^[0-9A-Za-z-]{1,64}$"


def jobs(request: Request) -> Jobs:
    app = request.app
    if not hasattr(app.state, "identify_jobs"):
        app.state.identify_jobs = Jobs()
    return app.state.identify_jobs


def permitted() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for item in os.environ.get("OTSCOPE_IDENTIFY_ALLOW", "").split(","):
        if item.strip():
            try:
                out.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                continue
    return out


def _inside(allow: list[str]) -> None:
    ranges = permitted()
    if not ranges:
        raise HTTPException(403, "active identification is not enabled on this server (OTSCOPE_IDENTIFY_ALLOW)")
    for item in allow:
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise HTTPException(422, f"allow {item[:64]!r}: not a CIDR range") from None
        if not any(net.version == r.version and net.subnet_of(r) for r in ranges):  # type: ignore[arg-type]
            raise HTTPException(422, f"allow {item[:64]}: outside the ranges this server may identify")


def operator_name(s: SessionDep, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    info = info_of(s, token=cred.credentials) if cred is not None and cred.credentials else None
    return info.name if info is not None else "api"


@router.post("", response_model=IdentifyJobOut, status_code=202, dependencies=[Admin],
             responses={200: {"model": IdentifyJobOut, "description": "dry run: the plan, nothing sent"},
                        403: {"description": "not enabled"}, 409: {"description": "a job is running"},
                        422: {"description": "refused"}})
def start(body: IdentifyRequest, request: Request, operator: Annotated[str, Depends(operator_name)]) -> object:
    _inside(body.allow)
    cfg = IdentifyConfig(
        plan=PlanRequest(targets=tuple(body.targets), gaps=body.gaps, allow=tuple(body.allow),
                         force=tuple(body.force), all_slots=body.all_slots),
        operator=operator, egress=Egress(body.interface, body.source), rate=body.rate, timeout=body.timeout,
        quiet=tuple(body.quiet), stop_file=os.environ.get("OTSCOPE_IDENTIFY_STOP_FILE") or None,
        audit_path=None if body.dry_run else os.environ.get("OTSCOPE_IDENTIFY_AUDIT", "otscope-identify-audit.jsonl"))
    factory = request.app.state.sessions
    try:
        plan = prepare(factory, cfg)
    except Refused as exc:
        raise HTTPException(422, str(exc)) from None
    if body.dry_run:
        from fastapi.responses import JSONResponse

        out = IdentifyJobOut(job=None, operator=operator, state="planned", plan=plan.as_dict())  # type: ignore[arg-type]
        return JSONResponse(out.model_dump(), status_code=200)
    if not plan.steps:
        raise HTTPException(422, "nothing to ask: " + ("; ".join(f"{r.target}: {r.reason}" for r in plan.refused[:5])
                                                       or "no targets"))
    try:
        job = jobs(request).start(factory, cfg, plan)
    except Refused as exc:
        raise HTTPException(409, str(exc)) from None
    return job.as_dict()


@router.get("/{job_id}", response_model=IdentifyJobOut, dependencies=[Admin])
def status(request: Request, job_id: Annotated[str, Path(pattern=JOB_RE)]) -> object:
    job = jobs(request).get(job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    return job.as_dict()


@router.post("/{job_id}/stop", response_model=IdentifyJobOut, dependencies=[Admin])
def stop(request: Request, job_id: Annotated[str, Path(pattern=JOB_RE)]) -> object:
    """The stop switch: nothing more is sent once the current frame is out."""
    job = jobs(request).stop(job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    return job.as_dict()
