"""Repositories: build and run statements on a Session they are given. They never commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from otscope.collector import events, merge
from otscope.contract import MAX_TOTAL
from otscope.collector.models import (
    Address,
    AnomalyStat,
    AppliedBatch,
    Asset,
    Communication,
    Fact,
    Sensor,
    TrafficStat,
)


def batch_applied(s: Session, sensor: str, batch_id: str) -> bool:
    return s.scalar(select(AppliedBatch.id).where(AppliedBatch.sensor == sensor,
                                                  AppliedBatch.batch_id == batch_id)) is not None


def record_batch(s: Session, sensor: str, batch_id: str, now: float, n: int) -> None:
    s.add(AppliedBatch(sensor=sensor, batch_id=batch_id, applied_at=now, observations=n))




def _chunks(seq: Sequence, n: int = 900):  # type: ignore[no-untyped-def]
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def addresses_for(s: Session, values: Sequence[str]) -> list[tuple[Address, int | None]]:
    """Every address row with one of these values, with its asset's parent (None = top level)."""
    out: list[tuple[Address, int | None]] = []
    for chunk in _chunks(values):
        out.extend(s.execute(select(Address, Asset.parent_id).join(Asset, Asset.id == Address.asset_id)
                             .where(Address.value.in_(chunk))).all())
    return out


def load_assets(s: Session, ids: Sequence[int]) -> list[Asset]:
    """These assets, with one query per 900 instead of one per get()."""
    out: list[Asset] = []
    for chunk in _chunks(ids):
        out.extend(s.scalars(select(Asset).where(Asset.id.in_(chunk))))
    return out


def assets_with_mac(s: Session, ids: Sequence[int]) -> list[int]:
    """Those of these assets that have a MAC bound with a confidence (ARP, DHCP, DCP, TTL rule)."""
    out: list[int] = []
    for chunk in _chunks(ids):
        out.extend(s.scalars(select(Address.asset_id).where(Address.asset_id.in_(chunk), Address.kind == "mac",
                                                            Address.confidence.is_not(None)).distinct()))
    return out


def facts_for(s: Session, ids: Sequence[int]) -> list[Fact]:
    out: list[Fact] = []
    for chunk in _chunks(ids):
        out.extend(s.scalars(select(Fact).where(Fact.asset_id.in_(chunk))))
    return out


def children_for(s: Session, ids: Sequence[int]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for chunk in _chunks(ids):
        out.extend(s.execute(select(Asset.id, Asset.parent_id, Asset.component)
                             .where(Asset.parent_id.in_(chunk))).all())
    return out


def comm_ports_for(s: Session, ids: Sequence[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for chunk in _chunks(ids):
        for c, sv, port in s.execute(select(Communication.client_id, Communication.server_id, Communication.port)
                                     .where(Communication.client_id.in_(chunk) | Communication.server_id.in_(chunk))):
            out.setdefault(c, set()).add(port)
            out.setdefault(sv, set()).add(port)
    return out




def new_asset(s: Session, first: float, last: float, parent_id: int | None = None,
              component: str | None = None, asset_id: int | None = None) -> Asset:
    """A new asset row; without an id given, flushed at once so the database assigns one."""
    a = Asset(id=asset_id, first_seen=first, last_seen=last, parent_id=parent_id, component=component,
              role="unknown", identified=False, sent=False)
    s.add(a)
    if asset_id is None:
        s.flush()
    return a


def insert_facts(s: Session, rows: list[dict]) -> None:
    """New fact rows in one executemany (their assets are already flushed)."""
    if rows:
        s.execute(insert(Fact), rows)


def max_asset_id(s: Session) -> int:
    return s.scalar(select(func.coalesce(func.max(Asset.id), 0))) or 0


def next_asset_id_pg(s: Session) -> int:
    """The next value of the id column's own sequence (PostgreSQL), so later inserts never collide."""
    return int(s.scalar(text("SELECT nextval(pg_get_serial_sequence('assets', 'id'))")))  # type: ignore[arg-type]


def widen(row: Any, first: float, last: float) -> None:
    """The one first/last-seen rule for every row (assets, addresses, facts, conversations): first seen only
    moves back, last seen only moves forward (merge.times)."""
    row.first_seen, row.last_seen = merge.times(row.first_seen, row.last_seen, first, last)


def widen_fact(row: Any, first: float, last: float, evidence: str, message: str) -> None:
    """A fact seen again: widened, and an earlier sighting brings its own frame as the evidence."""
    if first < row.first_seen:
        row.evidence, row.message = evidence, message
    widen(row, first, last)


def touch(a: Asset, first: float, last: float) -> None:
    widen(a, first, last)


def put_comm(s: Session, client_id: int, server_id: int, protocol: str, transport: str, port: int, packets: int,
             nbytes: int, first: float, last: float, profile: dict[str, int]) -> None:
    known = CommIndex()
    for r in s.scalars(select(Communication).where(Communication.client_id == client_id,
                                                   Communication.server_id == server_id,
                                                   Communication.transport == transport,
                                                   Communication.port == port)):
        known.put(r)
    add_comm(s, known, client_id, server_id, protocol, transport, port, packets, nbytes, first, last, profile)


class PendingRow:
    """A row a batch adds, kept as plain attributes until its table's rows are written in one INSERT
    (ORM objects cost ~100 us each to make and flush); read like an ORM row meanwhile."""

    COLUMNS: tuple[str, ...] = ()
    __slots__ = ()

    def __init__(self, **values: object) -> None:
        for k in self.COLUMNS:
            setattr(self, k, values[k])

    def row(self) -> dict:
        return {k: getattr(self, k) for k in self.COLUMNS}


class NewComm(PendingRow):
    """A conversation row, written with the others by write_comms()."""

    COLUMNS = ("client_id", "server_id", "protocol", "transport", "port", "packets", "bytes", "first_seen",
               "last_seen", "profile")
    __slots__ = COLUMNS


class CommIndex:
    """Conversations by (client, server, protocol, transport, port), and the confirmed one per
    (client, server, transport, port). With ``bulk``, new rows wait in ``pending`` for write_comms()."""

    def __init__(self, bulk: bool = False) -> None:
        self.rows: dict[tuple, Communication | NewComm] = {}
        self.confirmed: dict[tuple, Communication | NewComm] = {}
        self.bulk = bulk
        self.pending: list[NewComm] = []

    def put(self, row: Communication | NewComm) -> None:
        self.rows[(row.client_id, row.server_id, row.protocol, row.transport, row.port)] = row
        if not merge.is_placeholder(row.protocol, row.transport, row.port):
            self.confirmed.setdefault((row.client_id, row.server_id, row.transport, row.port), row)


def comms_between(s: Session, clients: Sequence[int]) -> CommIndex:
    """Existing conversations of these clients (an index whose new rows are written in bulk)."""
    out = CommIndex(bulk=True)
    for chunk in _chunks(clients):
        for c in s.scalars(select(Communication).where(Communication.client_id.in_(chunk))):
            out.put(c)
    return out


def plus(total: int, delta: int) -> int:
    """A running total that saturates below 2^62 instead of overflowing its 64-bit column (or a SUM of two)."""
    return min(total + delta, MAX_TOTAL)


def add_comm(s: Session, known: CommIndex, client_id: int, server_id: int, protocol: str, transport: str, port: int,
             packets: int, nbytes: int, first: float, last: float, profile: dict[str, int]) -> None:
    """Add a conversation's counts (deltas) to its row, creating it the first time (merge.conversation_label
    decides the row when the protocol was confirmed only part way through)."""
    pair = (client_id, server_id, transport, port)
    confirmed = known.confirmed.get(pair)
    label = merge.conversation_label(protocol, transport, port, confirmed.protocol if confirmed else None)
    row = known.rows.get((client_id, server_id, label, transport, port))
    if row is None and not merge.is_placeholder(label, transport, port):
        early = known.rows.pop((client_id, server_id, f"{transport}/{port}", transport, port), None)
        if early is not None:                         # counted before confirmation: now it is this protocol
            early.protocol = label
            row = early
            known.put(row)
    if row is None:
        values = dict(client_id=client_id, server_id=server_id, protocol=label, transport=transport, port=port,
                      packets=packets, bytes=nbytes, first_seen=first, last_seen=last, profile=dict(profile))
        if known.bulk:
            row = NewComm(**values)
            known.pending.append(row)
        else:
            row = Communication(**values)
            s.add(row)
        known.put(row)
        return
    row.packets = plus(row.packets, packets)
    row.bytes = plus(row.bytes, nbytes)
    widen(row, first, last)
    if profile:
        merged = dict(row.profile or {})
        for k, v in profile.items():
            merged[k] = plus(merged.get(k, 0), v)
        row.profile = merged


def write_comms(s: Session, known: CommIndex) -> None:
    """Insert the index's new conversations at once (their assets must be flushed already)."""
    if known.pending:
        s.execute(insert(Communication), [c.row() for c in known.pending])
        known.pending = []


def put_traffic(s: Session, sensor: str, protocol: str, packets: int, seen: int, decoded: int) -> None:
    row = s.scalar(select(TrafficStat).where(TrafficStat.sensor == sensor, TrafficStat.protocol == protocol))
    if row is None:
        s.add(TrafficStat(sensor=sensor, protocol=protocol, packets=packets, bytes_seen=seen, bytes_decoded=decoded))
    else:
        row.packets = plus(row.packets, packets)
        row.bytes_seen = plus(row.bytes_seen, seen)
        row.bytes_decoded = plus(row.bytes_decoded, decoded)


def put_anomaly(s: Session, sensor: str, protocol: str, kind: str, count: int, evidence: str) -> None:
    row = s.scalar(select(AnomalyStat).where(AnomalyStat.sensor == sensor, AnomalyStat.protocol == protocol,
                                             AnomalyStat.kind == kind))
    if row is None:
        s.add(AnomalyStat(sensor=sensor, protocol=protocol, kind=kind, count=count, first_evidence=evidence))
    else:
        row.count = plus(row.count, count)


def put_sensor(s: Session, name: str, now: float, stats: dict) -> None:
    row = s.scalar(select(Sensor).where(Sensor.name == name))
    if row is None:
        s.add(Sensor(name=name, last_seen=now, stats=dict(stats)))
    else:
        row.last_seen = now
        row.stats = dict(stats)


def facts_of(s: Session, asset_id: int) -> Sequence[Fact]:
    return s.scalars(select(Fact).where(Fact.asset_id == asset_id)).all()


def children_of(s: Session, asset_id: int) -> Sequence[Asset]:
    return s.scalars(select(Asset).where(Asset.parent_id == asset_id)).all()




def assets_with_fact(s: Session, field: str, value: str) -> Sequence[int]:
    return s.scalars(select(Fact.asset_id).where(Fact.field == field, Fact.value == value).distinct()).all()


def identity_facts(s: Session, serials: Sequence[str],
                   fields: Sequence[str]) -> list[tuple[Fact, int | None, str | None]]:
    """These fields of every asset reporting one of these serial numbers, with the asset's parent and component
    (one query per 900 serials)."""
    out: list[tuple[Fact, int | None, str | None]] = []
    for chunk in _chunks(serials):
        holders = select(Fact.asset_id).where(Fact.field == "serial", Fact.value.in_(chunk))
        out.extend(s.execute(select(Fact, Asset.parent_id, Asset.component).join(Asset, Asset.id == Fact.asset_id)
                             .where(Fact.field.in_(fields), Fact.asset_id.in_(holders))
                             .order_by(Fact.asset_id, Fact.id)).all())
    return out


def facts_with_values(s: Session, fields: Sequence[str], values: Sequence[str]) -> list[tuple[int, str, str]]:
    """(asset, field, value) of the facts of these fields that have one of these values."""
    out: list[tuple[int, str, str]] = []
    for chunk in _chunks(values):
        out.extend(s.execute(select(Fact.asset_id, Fact.field, Fact.value)
                             .where(Fact.field.in_(fields), Fact.value.in_(chunk))).all())
    return out


def addresses_near(s: Session, values: Sequence[str],
                   asset_ids: Sequence[int]) -> list[tuple[int, str, str, int | None]]:
    """(asset, kind, value, parent) of every address of the assets holding one of these values, and of these
    assets."""
    out: list[tuple[int, str, str, int | None]] = []
    for chunk in _chunks(values):
        holders = select(Address.asset_id).where(Address.value.in_(chunk))
        out.extend(s.execute(select(Address.asset_id, Address.kind, Address.value, Asset.parent_id)
                             .join(Asset, Asset.id == Address.asset_id).where(Address.asset_id.in_(holders))).all())
    for chunk in _chunks(asset_ids):
        out.extend(s.execute(select(Address.asset_id, Address.kind, Address.value, Asset.parent_id)
                             .join(Asset, Asset.id == Address.asset_id).where(Address.asset_id.in_(chunk))).all())
    return out


def merge_into(s: Session, keep: Asset, drop: Asset, moved_component: str | None = None) -> None:
    """Move everything of ``drop`` to ``keep`` (same device seen under two identities), then delete it. Facts keep
    their frame and message; a folded backplane module's facts remember its slot (``moved_component``)."""
    s.flush()
    mine = {(a.kind, a.vlan, a.value): a for a in s.scalars(select(Address).where(Address.asset_id == keep.id))}
    for addr in s.scalars(select(Address).where(Address.asset_id == drop.id)).all():
        same = mine.get((addr.kind, addr.vlan, addr.value))
        if same is None:
            addr.asset_id = keep.id
            continue
        same.first_seen, same.last_seen = merge.times(same.first_seen, same.last_seen, addr.first_seen, addr.last_seen)
        if addr.confidence == "high" or (addr.confidence and not same.confidence):
            same.confidence = addr.confidence
        s.delete(addr)
    known = {(f.field, f.value, f.protocol, f.component): f
             for f in s.scalars(select(Fact).where(Fact.asset_id == keep.id))}
    for f in s.scalars(select(Fact).where(Fact.asset_id == drop.id)).all():
        comp = f.component or moved_component or ""
        same = known.get((f.field, f.value, f.protocol, comp))
        if same is None:
            f.asset_id, f.component = keep.id, comp
            known[(f.field, f.value, f.protocol, comp)] = f
            continue
        widen_fact(same, f.first_seen, f.last_seen, f.evidence, f.message)
        s.delete(f)
    s.flush()
    for c in s.scalars(select(Communication).where(
            (Communication.client_id == drop.id) | (Communication.server_id == drop.id))).all():
        cid = keep.id if c.client_id == drop.id else c.client_id
        sid = keep.id if c.server_id == drop.id else c.server_id
        s.delete(c)
        s.flush()
        put_comm(s, cid, sid, c.protocol, c.transport, c.port, c.packets, c.bytes, c.first_seen, c.last_seen,
                 c.profile or {})
    for ch in children_of(s, drop.id):
        existing = s.scalar(select(Asset).where(Asset.parent_id == keep.id, Asset.component == ch.component))
        if existing is None:
            ch.parent_id = keep.id
        else:
            merge_into(s, existing, ch)
    touch(keep, drop.first_seen, drop.last_seen)
    keep.sent = keep.sent or drop.sent
    events.repoint(s, keep.id, drop.id)          # its events and baseline entries are the kept asset's now
    s.flush()
    s.delete(drop)
    s.flush()
