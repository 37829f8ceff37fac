from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from otscope.api.deps import Read, SessionDep
from otscope.api.schemas import AssetDetail, AssetOut, Page
from otscope.collector import queries

router = APIRouter(prefix="/api/v1/assets", tags=["assets"], dependencies=[Read])

ROLES = "plc|hmi-scada|engineering-workstation|io-device|gateway|network-device|it-host|unknown"


@router.get("", response_model=Page[AssetOut])
def list_assets(
    s: SessionDep,
    role: Annotated[str | None, Query(pattern=f"^({ROLES})$")] = None,
    vendor: Annotated[str | None, Query(max_length=128)] = None,
    protocol: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_/.-]+$")] = None,
    subnet: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9a-fA-F:.]+/\d{1,3}$")] = None,
    vlan: Annotated[int | None, Query(ge=0, le=4095)] = None,
    identified: bool | None = None,
    q: Annotated[str | None, Query(max_length=128, description="text search")] = None,
    facts: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    try:
        data, count = queries.search_assets(s, role=role, vendor=vendor, protocol=protocol, subnet=subnet,
                                            vlan=vlan, identified=identified, q=q, limit=limit, offset=offset,
                                            with_facts=facts)
    except ValueError as exc:
        raise HTTPException(422, f"invalid filter: {exc}") from None
    return {"data": data, "count": count}


@router.get("/{asset_id}", response_model=AssetDetail, responses={404: {"description": "no such asset"}})
def get_asset(asset_id: Annotated[int, Path(ge=1, le=2**31 - 1)], s: SessionDep) -> dict:
    a = queries.get_asset(s, asset_id)
    if a is None:
        raise HTTPException(404, "no such asset")
    a["communications"] = queries.communications(s, asset_id=asset_id, limit=500)
    return a
