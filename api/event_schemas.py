"""API shapes of events (collector/events.py as_dict), separate from the ORM model."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EventOut(BaseModel):
    id: int
    kind: str = Field(description="new-asset, plc-stop, program-download, ... (collector/events.py KINDS)")
    severity: str = Field(description="low | medium | high")
    time: str = Field(description="first sighting, ISO 8601 UTC")
    first_seen: float
    last_seen: float
    count: int = Field(description="occurrences (the largest count when several sensors saw the same action)")
    asset_id: int | None
    asset: str | None
    client_id: int | None = Field(description="the asset that caused it (the client of the conversation)")
    client: str | None
    protocol: str
    detail: str
    message: str
    evidence: list[str] = Field(description="'file#frame N' or 'sensor:x@time', the first ones, bounded")
    sensors: list[str]
    technique: str | None = Field(description="MITRE ATT&CK for ICS technique id")
    technique_name: str | None
    learning: bool = Field(description="recorded during the learning period: part of the baseline, not an alert")
    acknowledged: bool


class EventPage(BaseModel):
    data: list[EventOut]
    count: int = Field(description="total matching events (not only this page)")
