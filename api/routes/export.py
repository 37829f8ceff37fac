from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from otscope.api.deps import Read, SessionDep
from otscope.collector import queries
from otscope.collector.advisories import store
from otscope.collector.render import CSV_COLUMNS, VULN_COLUMNS, assets_csv, assets_json

router = APIRouter(prefix="/api/v1/export", tags=["export"], dependencies=[Read])


@router.get("/assets.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_csv(s: SessionDep) -> Response:
    """Every asset, with the advisories it is (possibly) affected by; cells that a spreadsheet would run as a
    formula (= + - @) are neutralised."""
    data = store.attach(s, queries.list_assets(s, with_facts=False))
    return Response(assets_csv(data, CSV_COLUMNS + VULN_COLUMNS), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="otscope-assets.csv"'})


@router.get("/assets.json", response_class=Response, responses={200: {"content": {"application/json": {}}}})
def export_json(s: SessionDep) -> Response:
    data = store.attach(s, queries.list_assets(s, with_facts=True))
    return Response(assets_json(data), media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="otscope-assets.json"'})
