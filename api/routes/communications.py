from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session
from sqlalchemy import func, select

from otscope.api.deps import Read, SessionDep, get_settings
from otscope.api.schemas import CommunicationsOut
from otscope.api.settings import Settings
from otscope.collector import queries
from otscope.collector.models import Address, Communication

router = APIRouter(prefix="/api/v1/communications", tags=["communications"], dependencies=[Read])


def _zone(ip: str, it: list, ot: list) -> str | None:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if any(a in n for n in ot):
        return "ot"
    if any(a in n for n in it):
        return "it"
    return None


def _segments(request: Request, s: Session) -> tuple[list[str], list[int]]:
    """Subnets and VLANs seen, cached until the next ingest."""
    key = queries.inventory_version(s)
    cache = request.app.state.segments_cache
    if cache.get("key") != key:
        ips = [v for (v,) in s.execute(select(Address.value).where(Address.kind == "ip").distinct())]
        cache["value"] = (sorted({queries._subnet_of([ip]) for ip in ips}),
                          sorted({v for (v,) in s.execute(select(Address.vlan).distinct())}))
        cache["key"] = key
    return cache["value"]


@router.get("", response_model=CommunicationsOut)
def list_communications(
    request: Request,
    s: SessionDep,
    settings: Annotated[Settings, Depends(get_settings)],
    protocol: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_/.-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    data = queries.communications(s, protocol=protocol, limit=limit, offset=offset)
    q = select(func.count(Communication.id))
    if protocol:
        q = q.where(Communication.protocol == protocol)
    count = s.scalar(q) or 0
    subnets, vlans = _segments(request, s)
    declared = bool(settings.it_ranges and settings.ot_ranges)
    crossings = []
    if declared:
        for c in data:
            for cip in c["client_ips"][:1]:
                for sip in c["server_ips"][:1]:
                    zc, zs = _zone(cip, settings.it_ranges, settings.ot_ranges), \
                        _zone(sip, settings.it_ranges, settings.ot_ranges)
                    if zc and zs and zc != zs:
                        crossings.append({"client_ip": cip, "server_ip": sip, "protocol": c["protocol"],
                                          "port": c["port"], "direction": f"{zc}->{zs}"})
    note = ("IT and OT ranges declared: crossings listed" if declared else
            "no IT/OT address ranges declared (set OTSCOPE_IT_RANGES and OTSCOPE_OT_RANGES): crossings not "
            "reported rather than guessed")
    return {"data": data, "count": count, "subnets": subnets, "vlans": vlans,
            "it_ot": {"declared": declared, "it_ranges": [str(n) for n in settings.it_ranges],
                      "ot_ranges": [str(n) for n in settings.ot_ranges], "note": note, "crossings": crossings}}
