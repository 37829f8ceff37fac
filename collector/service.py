"""Ingest service: one transaction per batch; the only place that commits.

Order inside a batch: bindings (they decide identity), hosts, facts, communications, traffic, anomalies;
then every touched asset's summary (vendor, product, firmware, role, ...) is recomputed from its facts by
the pure rules in merge.py, and identity facts (vendor + serial) link assets seen under two addresses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session, sessionmaker

from otscope.dissectors.registry import OT_PORTS
from otscope.collector import merge, repository as repo
from otscope.collector.models import Address, Asset, Fact
from otscope.collector.oui import UNKNOWN, mac_vendor
from otscope.contract import Batch, Evidence, FactObs, Subject
from otscope.dissectors.base import Role


@dataclass(frozen=True, slots=True)
class IngestResult:
    status: str            # applied | duplicate
    observations: int


def evidence_text(ev: Evidence) -> str:
    if ev.frame is not None:
        return f"{ev.source}#frame {ev.frame}"
    stamp = datetime.fromtimestamp(ev.ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{ev.source}@{stamp}"


class NewFact(repo.PendingRow):
    """A fact this batch adds, written with the batch's other new facts by write_facts()."""

    COLUMNS = ("asset_id", "field", "value", "protocol", "message", "evidence", "sensor", "first_seen", "last_seen")
    __slots__ = (*COLUMNS, "written")

    def __init__(self, **values: object) -> None:
        super().__init__(**values)
        self.written = False


class _BatchContext:
    """Per-batch state: the addresses, owners and facts this batch can touch, loaded with a few queries up
    front (not one query per observation), and the set of assets to re-summarise."""

    def __init__(self, s: Session, sensor: str, batch: Batch) -> None:
        self.s = s
        self.sensor = sensor
        self.batch = batch
        self.dialect = s.get_bind().dialect.name
        self._last_id: int | None = None
        self.new_facts: list[NewFact] = []
        self.touched: set[int] = set()
        self.new_macs: list[tuple[int, str, float]] = []
        self.preload()

    def preload(self) -> None:
        keys: set[tuple[str, int, str]] = set()
        subjects = [h.subject for h in self.batch.hosts] + [f.subject for f in self.batch.facts] + \
            [c.client for c in self.batch.comms] + [c.server for c in self.batch.comms]
        for sj in subjects:
            keys.add(("mac", sj.vlan, sj.mac) if sj.mac is not None else ("ip", sj.vlan, sj.ip))  # type: ignore[arg-type]
        for bd in self.batch.bindings:
            keys.add(("mac", bd.vlan, bd.mac))
            keys.add(("ip", bd.vlan, bd.ip))
        self._rank: dict[tuple, tuple[float, int]] = {}           # owner's (last seen, row id) per address
        self.addresses: dict[tuple, Address] = {}                 # (asset, kind, vlan, value) -> row
        self.owners: dict[tuple, int] = {}                        # (kind, vlan, value) -> latest holder
        self.children: dict[tuple[int, str], int] = {}            # (parent, component) -> child
        self.macs: set[int] = set()                               # assets that have a MAC
        rows = repo.addresses_for(self.s, sorted({v for _k, _vl, v in keys}))
        for row, parent in rows:
            if parent is not None:
                continue
            self.addresses[(row.asset_id, row.kind, row.vlan, row.value)] = row
            key = (row.kind, row.vlan, row.value)
            cur = self.owners.get(key)
            if cur is None or (row.last_seen, row.id) > self._rank[key]:
                self.owners[key] = row.asset_id
                self._rank[key] = (row.last_seen, row.id)
            if row.kind == "mac":
                self.macs.add(row.asset_id)
        ids = sorted(set(self.owners.values()))
        # the session's identity map holds rows weakly: the batch keeps its assets alive, so get() never
        # goes back to the database for a row it has already loaded or made
        self.assets: dict[int, Asset] = {a.id: a for a in repo.load_assets(self.s, ids)}
        for aid in repo.assets_with_mac(self.s, ids):
            self.macs.add(aid)
        self.facts: dict[int, dict[tuple[str, str, str], Fact | NewFact]] = {aid: {} for aid in ids}
        for f in repo.facts_for(self.s, ids):
            self.facts[f.asset_id][(f.field, f.value, f.protocol)] = f
        for cid, pid, comp in repo.children_for(self.s, ids):
            self.children[(pid, comp)] = cid

    def forget(self) -> None:
        """Assets were merged: load the caches again from the database."""
        self.write_facts()
        self.preload()

    def write_facts(self) -> None:
        """Flush the session (the assets new facts belong to), then insert the new facts at once."""
        self.s.flush()
        if self.new_facts:
            repo.insert_facts(self.s, [f.row() for f in self.new_facts])
            for f in self.new_facts:
                f.written = True
            self.new_facts = []

    def asset(self, aid: int) -> Asset | None:
        a = self.assets.get(aid)
        if a is None:
            a = self.s.get(Asset, aid)
            if a is not None:
                self.assets[aid] = a
        return None if a is None or a in self.s.deleted or inspect(a).was_deleted else a

    def owner(self, kind: str, vlan: int, value: str) -> Asset | None:
        aid = self.owners.get((kind, vlan, value))
        return self.asset(aid) if aid is not None else None

    def _next_id(self) -> int | None:
        """An id for a new asset without a flush per asset (merges are serialised by the ingest lock, see
        _apply): SQLite takes max + 1 as its own rowid rule does, PostgreSQL the column's sequence; any other
        database flushes the row and lets itself choose."""
        if self.dialect == "sqlite":
            if self._last_id is None:
                self._last_id = repo.max_asset_id(self.s)
            self._last_id += 1
            return self._last_id
        if self.dialect == "postgresql":
            return repo.next_asset_id_pg(self.s)
        return None

    def make_asset(self, first: float, last: float, parent_id: int | None = None,
                   component: str | None = None) -> Asset:
        a = repo.new_asset(self.s, first, last, parent_id, component, self._next_id())
        self.assets[a.id] = a
        self.facts[a.id] = {}
        return a

    def address(self, a: Asset, kind: str, vlan: int, value: str, first: float, last: float,
                confidence: str | None = None) -> None:
        row = self.addresses.get((a.id, kind, vlan, value))
        if row is None:
            row = Address(asset_id=a.id, kind=kind, vlan=vlan, value=value, confidence=confidence, first_seen=first,
                          last_seen=last)
            self.s.add(row)
            self.addresses[(a.id, kind, vlan, value)] = row
            if kind == "mac":
                self.macs.add(a.id)
        else:
            row.first_seen = min(row.first_seen, first)
            row.last_seen = max(row.last_seen, last)
            if confidence == "high" or (confidence and not row.confidence):
                row.confidence = confidence
        key = (kind, vlan, value)
        if self.owners.get(key) != a.id and (last, 1 << 62) >= self._rank.get(key, (-1.0, 0)):
            self.owners[key] = a.id                               # the latest holder of the address
            self._rank[key] = (last, 1 << 62)

    def _top(self, kind: str, vlan: int, value: str, first: float, last: float) -> Asset:
        a = self.owner(kind, vlan, value)
        if a is None:
            a = self.make_asset(first, last)
            self.address(a, kind, vlan, value, first, last)
            if kind == "mac":
                self.new_macs.append((a.id, value, first))
        else:
            repo.touch(a, first, last)
        self.touched.add(a.id)
        return a

    def resolve(self, subj: Subject, first: float, last: float) -> Asset:
        if subj.mac is not None:
            a = self._top("mac", subj.vlan, subj.mac, first, last)
        else:
            assert subj.ip is not None
            a = self._top("ip", subj.vlan, subj.ip, first, last)
        if subj.component:
            key = (a.id, subj.component)
            cid = self.children.get(key)
            if cid is None:
                a = self.make_asset(first, last, parent_id=a.id, component=subj.component)
                self.children[key] = a.id
            else:
                a = self.asset(cid)  # type: ignore[assignment]
                repo.touch(a, first, last)
            self.touched.add(a.id)
        return a

    def fact(self, asset_id: int, f: FactObs, sensor: str) -> None:
        self.put_fact(asset_id, f.field, f.value, f.protocol, f.message, evidence_text(f.evidence), sensor,
                      f.first_seen, f.last_seen)

    def put_fact(self, asset_id: int, field: str, value: str, protocol: str, message: str, evidence: str,
                 sensor: str, first: float, last: float) -> None:
        """One value of one field from one protocol: kept beside other values, first/last seen widened."""
        known = self.facts.get(asset_id)
        if known is None:
            known = self.facts[asset_id] = {(x.field, x.value, x.protocol): x for x in repo.facts_of(self.s, asset_id)}
        row = known.get((field, value, protocol))
        if row is None:
            new = NewFact(asset_id=asset_id, field=field, value=value, protocol=protocol, message=message,
                          evidence=evidence, sensor=sensor, first_seen=first, last_seen=last)
            self.new_facts.append(new)
            known[(field, value, protocol)] = new
            return
        if isinstance(row, NewFact) and row.written:
            raise RuntimeError("a new fact changed after it was written")     # a bug in the order of _apply
        if first < row.first_seen:
            row.first_seen, row.evidence, row.message = first, evidence, message
        row.last_seen = max(row.last_seen, last)

    def facts_of(self, asset_id: int) -> list[Fact | NewFact]:
        known = self.facts.get(asset_id)
        if known is None:
            return list(repo.facts_of(self.s, asset_id))
        return list(known.values())

    def bind(self, vlan: int, ip: str, mac: str, confidence: str, first: float, last: float) -> None:
        s = self.s
        mac_owner = self.owner("mac", vlan, mac)
        ip_owner = self.owner("ip", vlan, ip)
        action = merge.plan_binding(
            merge.Owner(mac_owner.id, True) if mac_owner else None,
            merge.Owner(ip_owner.id, ip_owner.id in self.macs) if ip_owner else None)
        if action is merge.BindingAction.CREATE or action is merge.BindingAction.NEW_HOLDER:
            a = self.make_asset(first, last)
            self.address(a, "mac", vlan, mac, first, last, confidence)
            self.address(a, "ip", vlan, ip, first, last, confidence)
            self.new_macs.append((a.id, mac, first))
        elif action is merge.BindingAction.ATTACH_MAC:
            assert ip_owner is not None
            a = ip_owner
            self.address(a, "mac", vlan, mac, first, last, confidence)
            self.address(a, "ip", vlan, ip, first, last, confidence)
            self.new_macs.append((a.id, mac, first))
        elif action is merge.BindingAction.MERGE_IP_ASSET:
            assert mac_owner is not None and ip_owner is not None
            a = mac_owner
            s.flush()
            repo.merge_into(s, a, ip_owner)
            self.touched.discard(ip_owner.id)
            self.forget()
            self.address(a, "ip", vlan, ip, first, last, confidence)
            self.address(a, "mac", vlan, mac, first, last, confidence)
        else:
            assert mac_owner is not None
            a = mac_owner
            self.address(a, "ip", vlan, ip, first, last, confidence)
            self.address(a, "mac", vlan, mac, first, last, confidence)
        repo.touch(a, first, last)
        self.touched.add(a.id)


def apply_batch(s: Session, batch: Batch) -> IngestResult:
    """Merge one validated batch inside the caller's transaction (the caller commits)."""
    with s.no_autoflush:                     # flushes happen where an id is needed, not before every query
        return _apply(s, batch)


def _apply(s: Session, batch: Batch) -> IngestResult:
    n = batch.size()
    # several sensors may ingest at once: merges are serialised so identity resolution is race-free
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(7431)"))
    elif dialect == "sqlite":
        s.execute(text("INSERT OR REPLACE INTO ingest_lock (id, at) VALUES (1, :at)"), {"at": time.time()})
    if repo.batch_applied(s, batch.sensor, batch.batch_id):
        return IngestResult("duplicate", n)
    ctx = _BatchContext(s, batch.sensor, batch)
    for b in sorted(batch.bindings, key=lambda b: (b.confidence != "high", b.first_seen, b.ip, b.mac)):
        ctx.bind(b.vlan, b.ip, b.mac, b.confidence, b.first_seen, b.last_seen)
    for h in batch.hosts:
        a = ctx.resolve(h.subject, h.first_seen, h.last_seen)
        if h.sent and not a.sent:
            a.sent = True
    for f in batch.facts:
        a = ctx.resolve(f.subject, f.first_seen, f.last_seen)
        ctx.fact(a.id, f, batch.sensor)
        if f.field == "protocol" and f.value.endswith("-server"):
            a.sent = True                       # a server that answered has spoken
    ends = [(ctx.resolve(c.client, c.first_seen, c.last_seen).id, ctx.resolve(c.server, c.first_seen, c.last_seen).id)
            for c in batch.comms]
    known = repo.comms_between(s, sorted({cl for cl, _sv in ends}))
    # confirmed conversations first, so an unconfirmed part in the same batch joins them
    order = sorted(range(len(ends)), key=lambda i: merge.is_placeholder(batch.comms[i].protocol,
                                                                       batch.comms[i].transport, batch.comms[i].port))
    for i in order:
        (cl, sv), c = ends[i], batch.comms[i]
        repo.add_comm(s, known, cl, sv, c.protocol, c.transport, c.port, c.packets, c.bytes, c.first_seen,
                      c.last_seen, c.profile)
    for t in batch.traffic:
        repo.put_traffic(s, batch.sensor, t.protocol, t.packets, t.bytes_seen, t.bytes_decoded)
    for an in batch.anomalies:
        repo.put_anomaly(s, batch.sensor, an.protocol, an.kind, an.count, evidence_text(an.evidence))
    s.flush()
    for asset_id, mac, first in ctx.new_macs:
        vendor = mac_vendor(mac)
        if vendor != UNKNOWN and ctx.asset(asset_id) is not None:
            ctx.put_fact(asset_id, "mac_vendor", vendor, "oui", f"OUI of {mac}", "scapy bundled OUI database",
                         batch.sensor, first, first)
    ctx.write_facts()
    repo.write_comms(s, known)
    _link_by_serial(s, ctx)
    touched = set(ctx.touched)
    for aid in list(touched):
        a = ctx.asset(aid)
        if a is not None and a.parent_id is not None:
            touched.add(a.parent_id)                 # a new child can turn its parent into a gateway
    ids = sorted(touched)
    kids: dict[int, list[str]] = {}
    for _cid, pid, comp in repo.children_for(s, ids):
        kids.setdefault(pid, []).append(comp or "")
    ports = repo.comm_ports_for(s, ids)
    for aid in ids:
        _resummarize(s, ctx, aid, kids.get(aid, []), ports.get(aid, set()))
    repo.record_batch(s, batch.sensor, batch.batch_id, time.time(), n)
    if batch.stats:
        repo.put_sensor(s, batch.sensor, time.time(), batch.stats)
    return IngestResult("applied", n)


def _link_by_serial(s: Session, ctx: _BatchContext) -> None:
    """Two top-level assets reporting the same vendor and serial number are one device."""
    for asset_id in sorted(ctx.touched):
        a = ctx.asset(asset_id)
        if a is None or a.parent_id is not None:
            continue
        facts = ctx.facts_of(asset_id)
        serials = {f.value for f in facts if f.field == "serial"}
        vendors = {f.value for f in facts if f.field == "vendor"}
        if not serials or not vendors:
            continue
        for serial in serials:
            for other_id in repo.assets_with_fact(s, "serial", serial):
                other = ctx.asset(other_id)
                if other is None or other_id == asset_id or other.parent_id is not None:
                    continue
                if not vendors & {f.value for f in ctx.facts_of(other_id) if f.field == "vendor"}:
                    continue
                keep, drop = (other, a) if other.id < a.id else (a, other)
                s.flush()
                repo.merge_into(s, keep, drop)
                ctx.touched.discard(drop.id)
                ctx.touched.add(keep.id)
                ctx.forget()
                return _link_by_serial(s, ctx)
    return None


def _resummarize(s: Session, ctx: _BatchContext, asset_id: int, children: list[str], ports: set[int]) -> None:
    """Recompute an asset's shown identity and role from all its facts (pure rules in merge.py)."""
    a = ctx.asset(asset_id)
    if a is None:
        return
    facts = [merge.FactView(f.field, f.value, f.protocol, f.last_seen) for f in ctx.facts_of(asset_id)]
    unit_children = sum(1 for c in children if c.startswith("unit:")) >= 2
    # only IT traffic makes an it-host; an undecoded OT protocol (DNP3, IEC 104, ...) leaves the role unknown
    it_only = bool(ports) and not ports & OT_PORTS.keys()
    summary = merge.summarize(facts, has_children_units=unit_children, has_it_traffic=it_only)
    if a.parent_id is not None and summary.role is Role.UNKNOWN:
        summary.role = Role.PLC if (a.component or "").startswith(("unit:", "slot:", "rack:")) else Role.UNKNOWN
    a.vendor, a.product, a.order_number = summary.vendor, summary.product, summary.order_number
    a.firmware, a.serial, a.name, a.mac_vendor = summary.firmware, summary.serial, summary.name, summary.mac_vendor
    a.role, a.identified = summary.role.value, summary.identified


def ingest(factory: sessionmaker[Session], batch: Batch) -> IngestResult:
    """Apply a batch in its own transaction: all of it or none of it."""
    with factory() as s, s.begin():
        return apply_batch(s, batch)
