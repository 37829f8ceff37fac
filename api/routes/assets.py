from __future__ import annotations

from typing import Annotated

import ipaddress

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from otscope.api.deps import Read, SessionDep
from otscope.api.schemas import AssetDetail, AssetOut, Page
from otscope.collector import queries
from otscope.collector.advisories import store
from otscope.collector.search import TextIndex

router = APIRouter(prefix="/api/v1/assets", tags=["assets"], dependencies=[Read])

ROLES = "plc|hmi-scada|engineering-workstation|io-device|gateway|network-device|it-host|unknown"


@router.get("", response_class=Response, responses={200: {"model": Page[AssetOut]}})
def list_assets(
    request: Request,
    s: SessionDep,
    role: Annotated[str | None, Query(pattern=f"^({ROLES})$")] = None,
    vendor: Annotated[str | None, Query(max_length=128)] = None,
    protocol: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_/.-]+$")] = None,
    subnet: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-fA-F:.]+/\d{1,3}$")] = None,
    vlan: Annotated[int | None, Query(ge=0, le=4095)] = None,
    identified: bool | None = None,
    q: Annotated[str | None, Query(max_length=128, description="text search")] = None,
    vulnerable: Annotated[bool | None, Query(description="affected by an imported advisory (true) or not")] = None,
    facts: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    params = dict(role=role, vendor=vendor, protocol=protocol, subnet=subnet, vlan=vlan, identified=identified,
                  q=q, limit=limit, offset=offset, with_facts=facts, vulnerable=vulnerable)

    version = (queries.inventory_version(s), store.version(s))      # the matches change on advisory imports

    def page() -> bytes:
        if q:                       # text search in memory (collector/search.py), the other filters in SQL
            found = cache.get_or_make(("text-index", version[0]), lambda: TextIndex.build(s)).match(q)
            data, count = queries.search_assets(s, **{**params, "q": None}, ids=found)  # type: ignore[arg-type]
        else:
            data, count = queries.search_assets(s, **params)  # type: ignore[arg-type]
        store.attach(s, data)
        return Page[AssetOut].model_validate({"data": data, "count": count}).model_dump_json().encode()

    if subnet:
        try:
            ipaddress.ip_network(subnet, strict=False)
        except ValueError as exc:
            raise HTTPException(422, f"invalid filter: {exc}") from None
    # derived from the inventory alone: computed once per inventory version (api/cache.py)
    cache = request.app.state.response_cache
    key = ("assets", version, tuple(sorted(params.items())))
    return Response(cache.get_or_make(key, page), media_type="application/json")


@router.get("/{asset_id}", response_model=AssetDetail, responses={404: {"description": "no such asset"}})
def get_asset(asset_id: Annotated[int, Path(ge=1, le=2**31 - 1)], s: SessionDep) -> dict:
    a = queries.get_asset(s, asset_id)
    if a is None:
        raise HTTPException(404, "no such asset")
    a["communications"] = queries.communications(s, asset_id=asset_id, limit=500)
    store.attach(s, [a])
    rows, _n = store.list_matches(s, store.VulnFilter(asset_id=asset_id), limit=1000)
    a["vulnerabilities"] = [store.as_dict(r) for r in rows]
    a["cpes"] = store.cpes_of(s, asset_id)
    return a
