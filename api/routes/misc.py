from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from otscope import __version__
from otscope.api.deps import Read, SessionDep
from otscope.api.schemas import AnomalyOut, Health, ProtocolOut, SensorOut
from otscope.collector import queries
from otscope.collector.models import Sensor
from otscope.dissectors import registry

router = APIRouter(tags=["status"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict:
    return {"status": "ok", "version": __version__}


@router.get("/api/v1/anomalies", response_model=list[AnomalyOut], dependencies=[Read])
def anomalies(s: SessionDep) -> list[dict]:
    return queries.anomalies(s)


@router.get("/api/v1/sensors", response_model=list[SensorOut], dependencies=[Read])
def sensors(s: SessionDep) -> list[dict]:
    return [{"name": x.name, "last_seen": queries.iso(x.last_seen), "stats": x.stats or {}}
            for x in s.scalars(select(Sensor).order_by(Sensor.name))]


@router.get("/api/v1/protocols", response_model=list[ProtocolOut], dependencies=[Read])
def protocols() -> list[dict]:
    """Every protocol a registered dissector package declares (dissectors/registry.py), with its colour."""
    return registry.catalogue()
