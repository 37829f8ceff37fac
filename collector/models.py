"""Inventory schema (SQLAlchemy 2.0 typed models). Times are epoch seconds (UTC)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    component: Mapped[str | None] = mapped_column(String(64))
    merged_into: Mapped[int | None] = mapped_column(Integer)      # set when an identity fact linked it to another
    role: Mapped[str] = mapped_column(String(32), default="unknown")
    role_evidence: Mapped[str | None] = mapped_column(String(512))   # why the role (merge.decide_role)
    vendor: Mapped[str | None] = mapped_column(String(256))
    product: Mapped[str | None] = mapped_column(String(256))
    order_number: Mapped[str | None] = mapped_column(String(256))
    firmware: Mapped[str | None] = mapped_column(String(256))
    serial: Mapped[str | None] = mapped_column(String(256))
    name: Mapped[str | None] = mapped_column(String(256))
    mac_vendor: Mapped[str | None] = mapped_column(String(256))
    identified: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    sent: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)

    addresses: Mapped[list[Address]] = relationship(back_populates="asset", cascade="all, delete-orphan")
    facts: Mapped[list[Fact]] = relationship(back_populates="asset", cascade="all, delete-orphan")


class Address(Base):
    """An IP or MAC of an asset on a VLAN; an IP can move to another asset over time (DHCP, DCP Set)."""

    __tablename__ = "addresses"
    __table_args__ = (UniqueConstraint("asset_id", "kind", "vlan", "value"),
                      Index("ix_addresses_lookup", "kind", "vlan", "value"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(4))           # ip | mac
    vlan: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[str | None] = mapped_column(String(8))
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)

    asset: Mapped[Asset] = relationship(back_populates="addresses")


class Fact(Base):
    """One value of one field of an asset, from one protocol. Conflicting values live side by side."""

    __tablename__ = "facts"
    __table_args__ = (UniqueConstraint("asset_id", "field", "value", "protocol", "component"),
                      Index("ix_facts_field_value", "field", "value"))     # vendor+serial and LLDP claim look-ups

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    # the part behind the address the fact's frame was about ("unit:5", "slot:0"); "" = the device itself
    component: Mapped[str] = mapped_column(String(64), default="", server_default="")
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(256))
    protocol: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(256))
    evidence: Mapped[str] = mapped_column(String(512))       # "file.pcap#frame 12" or "sensor:x@<ts>"
    sensor: Mapped[str] = mapped_column(String(128))
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)

    asset: Mapped[Asset] = relationship(back_populates="facts")


class Communication(Base):
    __tablename__ = "communications"
    __table_args__ = (UniqueConstraint("client_id", "server_id", "protocol", "transport", "port"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(64))
    transport: Mapped[str] = mapped_column(String(8))
    port: Mapped[int] = mapped_column(Integer)
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TrafficStat(Base):
    __tablename__ = "traffic"
    __table_args__ = (UniqueConstraint("sensor", "protocol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor: Mapped[str] = mapped_column(String(128))
    protocol: Mapped[str] = mapped_column(String(64))
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_seen: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_decoded: Mapped[int] = mapped_column(BigInteger, default=0)


class AnomalyStat(Base):
    __tablename__ = "anomalies"
    __table_args__ = (UniqueConstraint("sensor", "protocol", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor: Mapped[str] = mapped_column(String(128))
    protocol: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(256))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_evidence: Mapped[str] = mapped_column(String(512))


class AppliedBatch(Base):
    """Batches already merged: the same (sensor, batch_id) is applied once."""

    __tablename__ = "applied_batches"
    __table_args__ = (UniqueConstraint("sensor", "batch_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor: Mapped[str] = mapped_column(String(128))
    batch_id: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[float] = mapped_column(Float)
    observations: Mapped[int] = mapped_column(Integer)


class Sensor(Base):
    __tablename__ = "sensors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    last_seen: Mapped[float] = mapped_column(Float)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RegisterEntry(Base):
    """A row of an uploaded expected-asset register (for reconciliation)."""

    __tablename__ = "register"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(256))
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    mac: Mapped[str | None] = mapped_column(String(32), index=True)
    vendor: Mapped[str | None] = mapped_column(String(256))
    model: Mapped[str | None] = mapped_column(String(256))
    firmware: Mapped[str | None] = mapped_column(String(256))
    location: Mapped[str | None] = mapped_column(String(256))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scope: Mapped[str] = mapped_column(String(16))          # read | write | admin
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)    # None: never expires
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)    # None: not revoked


class IngestLock(Base):
    """One row every SQLite ingest writes first: that write takes the database's write lock before the batch
    reads anything, so concurrent ingests (several sensors, several workers) are serialised, not interleaved.
    PostgreSQL uses a transaction-level advisory lock instead."""

    __tablename__ = "ingest_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[float] = mapped_column(Float)


class Event(Base):
    """A change worth telling (collector/events.py): a control action, a new device or conversation, an identity
    or address change. One row per occurrence window of an identity (kind, asset, client, detail): a repeat
    within the window, or the same action reported by a second sensor, widens the row and adds its evidence."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_identity", "kind", "asset_id", "client_id", "detail"),
                      Index("ix_events_first_seen", "first_seen"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)     # identity + occurrence number: idempotent
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    technique: Mapped[str | None] = mapped_column(String(16))      # MITRE ATT&CK for ICS id (T0843...)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    protocol: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(256))
    message: Mapped[str] = mapped_column(String(512))
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)    # "file#frame N" / "sensor:x@<time>", bounded
    sensors: Mapped[list[str]] = mapped_column(JSON, default=list)
    count: Mapped[int] = mapped_column(BigInteger, default=1)
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    learning: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    acked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class EventBaseline(Base):
    """What is known and accepted: an identity (kind, asset, client, detail) here is never raised again (0 = none)."""

    __tablename__ = "event_baseline"
    __table_args__ = (UniqueConstraint("kind", "asset_id", "client_id", "detail"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    asset_id: Mapped[int] = mapped_column(Integer, default=0)
    client_id: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(String(256))
    added_at: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32))                # acknowledged | learning


class EventState(Base):
    """The events layer's own settings that must survive restarts: when learning started and from what."""

    __tablename__ = "event_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Advisory(Base):
    """An imported security advisory (CSAF 2.0, issue 18), one row per (tracking id, revision); ``body`` holds the
    parsed product tree and vulnerabilities (collector/advisories/csaf.py to_json), so matching runs again without
    the file. ``latest``: the newest revision of its tracking id, the one matched."""

    __tablename__ = "advisories"
    __table_args__ = (UniqueConstraint("tracking_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tracking_id: Mapped[str] = mapped_column(String(128), index=True)
    revision: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(512))
    publisher: Mapped[str] = mapped_column(String(256))
    initial_release: Mapped[str | None] = mapped_column(String(40), nullable=True)
    current_release: Mapped[str | None] = mapped_column(String(40), nullable=True)
    source: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    schema_checked: Mapped[bool] = mapped_column(Boolean, default=False)
    latest: Mapped[bool] = mapped_column(Boolean, default=True)
    products: Mapped[int] = mapped_column(Integer, default=0)
    cves: Mapped[list[str]] = mapped_column(JSON, default=list)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    imported_at: Mapped[float] = mapped_column(Float)


class VulnerabilityMatch(Base):
    """An asset an advisory applies to, per CVE: ``affected`` or ``possible`` (firmware unknown, a range that cannot
    be checked), with the confidence (exact / family) and the evidence of each matching step. Derived: rebuilt by
    collector/advisories/store.refresh after an import (and by ``otscope vulns``)."""

    __tablename__ = "vulnerability_matches"
    __table_args__ = (UniqueConstraint("asset_id", "tracking_id", "cve"),
                      Index("ix_vulnerability_matches_cve", "cve"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    advisory_id: Mapped[int] = mapped_column(ForeignKey("advisories.id", ondelete="CASCADE"), index=True)
    tracking_id: Mapped[str] = mapped_column(String(128), index=True)
    cve: Mapped[str] = mapped_column(String(32))                  # "" when the vulnerability has no CVE
    title: Mapped[str] = mapped_column(String(512))
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)   # CVSS v3 baseSeverity, lower case
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16))               # affected | possible
    confidence: Mapped[str] = mapped_column(String(16))           # exact | family
    product_id: Mapped[str] = mapped_column(String(128))
    product: Mapped[str] = mapped_column(String(512))
    version_range: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reason: Mapped[str] = mapped_column(String(512))
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    remediation: Mapped[str | None] = mapped_column(String(512), nullable=True)
    first_matched: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)


class AssetCpe(Base):
    """A CPE 2.3 name of an asset and the rule that made it (collector/advisories/cpe.py RULES). Derived."""

    __tablename__ = "asset_cpes"
    __table_args__ = (UniqueConstraint("asset_id", "cpe"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    part: Mapped[str] = mapped_column(String(1))                  # h (hardware) | o (firmware)
    cpe: Mapped[str] = mapped_column(String(512))
    rule: Mapped[str] = mapped_column(String(64))
class Zone(Base):
    """A zone of the site model (collector/zones.py): IP ranges and VLANs at one Purdue level. ``source`` says
    whether it was declared (TOML file, PUT /api/v1/zones) or a proposed zone an operator accepted."""

    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)     # Purdue level 0-5 (None: unknown)
    cidrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    vlans: Mapped[list[int]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(String(256), nullable=True)
    source: Mapped[str] = mapped_column(String(16))                       # declared | accepted
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)       # why (an accepted proposal's inference)
    created_at: Mapped[float] = mapped_column(Float)


class AssetZone(Base):
    """An asset's zone and/or level set by hand (PUT /api/v1/assets/{id}/zone): wins over the model's."""

    __tablename__ = "asset_zones"

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(256), nullable=True)
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[float] = mapped_column(Float)
