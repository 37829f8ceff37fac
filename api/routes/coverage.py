from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from otscope.api.deps import Read, SessionDep, get_settings
from otscope.api.schemas import CoverageOut
from otscope.api.settings import Settings
from otscope.collector import queries

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"], dependencies=[Read])


@router.get("", response_class=Response, responses={200: {"model": CoverageOut}})
def get_coverage(request: Request, s: SessionDep, settings: Annotated[Settings, Depends(get_settings)],
                 target: Annotated[float | None, Query(gt=0, le=1)] = None) -> Response:
    t = target if target is not None else settings.asset_target
    key = (queries.inventory_version(s), t, settings.traffic_target)
    cache = request.app.state.coverage_cache
    if cache.get("key") != key:
        # derived from the inventory: validated and serialised once, again only after the next ingest
        value = queries.coverage(s, target=t, traffic_target=settings.traffic_target)
        cache["body"] = CoverageOut.model_validate(value).model_dump_json(by_alias=True).encode()
        cache["key"] = key
    return Response(cache["body"], media_type="application/json")
