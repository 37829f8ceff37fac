"""Zones and Purdue levels, and segmentation findings (issue 20): read scope to look, admin scope to change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query

from otscope.api.deps import Admin, Read, SessionDep
from otscope.collector import findings, zones
from otscope.collector.uow import unit_of_work

router = APIRouter(prefix="/api/v1", tags=["zones"])

KIND_RE = "^(" + "|".join(k.value for k in findings.FindingKind) + ")$"


@router.get("/zones", dependencies=[Read])
def get_zones(s: SessionDep) -> dict[str, Any]:
    """The site model in force (declared, accepted, or proposed from traffic), each asset's zone and level."""
    model, hosts = zones.current(s)
    out = zones.view(model, hosts)
    out["flows"] = zones.zone_flows(model, zones.load_convs(s))
    return out


@router.put("/zones", dependencies=[Admin])
def put_zones(s: SessionDep, body: Annotated[dict[str, Any], Body(description="{site, zones: [...]}: the TOML "
                                                                               "file's shape")]) -> dict[str, Any]:
    """Replace the declared model."""
    try:
        parsed = zones.parse_model(body)
    except zones.ZoneError as exc:
        raise HTTPException(422, str(exc)) from None
    with unit_of_work(s):
        n = zones.replace(s, parsed)
    return {"zones": n, "status": "declared"}


@router.post("/zones/accept", dependencies=[Admin])
def accept(s: SessionDep) -> dict[str, Any]:
    """Store the proposed model as the site's."""
    try:
        with unit_of_work(s):
            n = zones.accept(s)
    except zones.ZoneError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"zones": n, "status": "accepted"}


@router.put("/assets/{asset_id}/zone", dependencies=[Admin], responses={404: {"description": "no such asset"}})
def put_asset_zone(asset_id: Annotated[int, Path(ge=1, le=2**31 - 1)], s: SessionDep,
                   body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Override an asset's zone and/or level by hand ({"zone": name|null, "level": 0-5|null, "reason": ...});
    both null clears the override."""
    extra = set(body) - {"zone", "level", "reason"}
    zone, level, reason = body.get("zone"), body.get("level"), body.get("reason", "")
    if extra or (zone is not None and (not isinstance(zone, str) or not zones.NAME_RE.match(zone))) or \
            (level is not None and (isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 5)) \
            or not isinstance(reason, str) or len(reason) > 256:
        raise HTTPException(422, "body: zone (a zone name or null), level (0-5 or null), reason (text)")
    with unit_of_work(s):
        if not zones.set_override(s, asset_id, zone, None if level is None else zones.Level(level), "api", reason):
            raise HTTPException(404, "no such top-level asset")
    model, _hosts = zones.current(s)
    return model.assignments[asset_id].as_dict()


@router.get("/findings", dependencies=[Read])
def get_findings(s: SessionDep, kind: Annotated[str | None, Query(pattern=KIND_RE)] = None,
                 zone: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
    model, hosts = zones.current(s)
    found = findings.select_findings(findings.compute(model, hosts, zones.load_convs(s)),
                                     findings.FindingKind(kind) if kind else None, zone)
    return {"data": [f.as_dict() for f in found], "count": len(found)}
