"""Vulnerabilities (issue 18): which assets the imported CSAF advisories apply to, by asset or by advisory, with
severity / CVE / status filters and paging like the other lists; and the imported advisories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from otscope.api.deps import Read, SessionDep
from otscope.api.vuln_schemas import AdvisoryPage, VulnerabilityPage
from otscope.collector.advisories import store
from otscope.collector.advisories.match import SEVERITIES
from otscope.collector.events import labels

router = APIRouter(prefix="/api/v1", tags=["vulnerabilities"], dependencies=[Read])

SEV_RE = "^(" + "|".join(SEVERITIES) + ")$"


@router.get("/vulnerabilities", response_model=VulnerabilityPage)
def list_vulnerabilities(
    s: SessionDep,
    asset: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="one asset id")] = None,
    advisory: Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                                          description="one advisory (tracking id)")] = None,
    cve: Annotated[str | None, Query(max_length=32, pattern=r"^CVE-\d{4}-\d{4,}$")] = None,
    severity: Annotated[str | None, Query(pattern=SEV_RE)] = None,
    status: Annotated[str | None, Query(pattern="^(affected|possible)$")] = None,
    confidence: Annotated[str | None, Query(pattern="^(exact|family)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """Matches ordered by asset, advisory, CVE. They are refreshed by every import (and `otscope vulns`)."""
    rows, count = store.list_matches(s, store.VulnFilter(asset, advisory, cve, severity, status, confidence),
                                     limit=limit, offset=offset)
    names = labels(s, [r.asset_id for r in rows])
    return {"data": [store.as_dict(r, names) for r in rows], "count": count}


@router.get("/advisories", response_model=AdvisoryPage)
def list_advisories(s: SessionDep) -> dict:
    data = store.advisories(s)
    return {"data": data, "count": len(data)}
