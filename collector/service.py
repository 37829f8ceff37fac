"""Ingest service: one transaction per batch; the only place that commits.

Order inside a batch: bindings (they decide identity), hosts, facts, communications, traffic, anomalies;
then every touched asset's summary (vendor, product, firmware, role, ...) is recomputed from its facts by
the pure rules in merge.py, and identity facts (vendor + serial) link assets seen under two addresses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from otscope.agent.flows import OT_PORTS
from otscope.collector import merge, repository as repo
from otscope.collector.models import Asset, Fact
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


class _BatchContext:
    """Per-batch resolution cache and the set of assets to re-summarise."""

    def __init__(self, s: Session, sensor: str) -> None:
        self.s = s
        self.sensor = sensor
        self.touched: set[int] = set()
        self.new_macs: list[tuple[int, str, float]] = []
        self.owners: dict[tuple, int] = {}        # (kind, vlan, value) / (parent, component) -> asset id
        self.facts: dict[int, dict[tuple[str, str, str], Fact]] = {}

    def forget(self) -> None:
        """Assets were merged: cached resolutions may point at a deleted asset."""
        self.owners.clear()
        self.facts.clear()

    def _top(self, kind: str, vlan: int, value: str, first: float, last: float) -> Asset:
        key = (kind, vlan, value)
        aid = self.owners.get(key)
        a = self.s.get(Asset, aid) if aid is not None else repo.owner_of(self.s, kind, vlan, value)
        if a is None:
            a = repo.new_asset(self.s, first, last)
            repo.put_address(self.s, a, kind, vlan, value, first, last)
            if kind == "mac":
                self.new_macs.append((a.id, value, first))
        else:
            repo.touch(a, first, last)
        self.owners[key] = a.id
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
            cid = self.owners.get(key)
            if cid is None:
                a = repo.child(self.s, a, subj.component, first, last)
                self.owners[key] = a.id
            else:
                a = self.s.get(Asset, cid)  # type: ignore[assignment]
                repo.touch(a, first, last)
            self.touched.add(a.id)
        return a

    def fact(self, asset_id: int, f: FactObs, sensor: str) -> None:
        known = self.facts.get(asset_id)
        if known is None:
            known = self.facts[asset_id] = {(x.field, x.value, x.protocol): x for x in repo.facts_of(self.s, asset_id)}
        row = known.get((f.field, f.value, f.protocol))
        if row is None:
            row = Fact(asset_id=asset_id, field=f.field, value=f.value, protocol=f.protocol, message=f.message,
                       evidence=evidence_text(f.evidence), sensor=sensor, first_seen=f.first_seen,
                       last_seen=f.last_seen)
            self.s.add(row)
            known[(f.field, f.value, f.protocol)] = row
            return
        if f.first_seen < row.first_seen:
            row.first_seen, row.evidence, row.message = f.first_seen, evidence_text(f.evidence), f.message
        row.last_seen = max(row.last_seen, f.last_seen)

    def bind(self, vlan: int, ip: str, mac: str, confidence: str, first: float, last: float) -> None:
        s = self.s
        mac_owner = repo.owner_of(s, "mac", vlan, mac)
        ip_owner = repo.owner_of(s, "ip", vlan, ip)
        action = merge.plan_binding(
            merge.Owner(mac_owner.id, True) if mac_owner else None,
            merge.Owner(ip_owner.id, repo.has_mac(s, ip_owner.id)) if ip_owner else None)
        if action is merge.BindingAction.CREATE or action is merge.BindingAction.NEW_HOLDER:
            a = repo.new_asset(s, first, last)
            repo.put_address(s, a, "mac", vlan, mac, first, last, confidence)
            repo.put_address(s, a, "ip", vlan, ip, first, last, confidence)
            self.new_macs.append((a.id, mac, first))
        elif action is merge.BindingAction.ATTACH_MAC:
            assert ip_owner is not None
            a = ip_owner
            repo.put_address(s, a, "mac", vlan, mac, first, last, confidence)
            repo.put_address(s, a, "ip", vlan, ip, first, last, confidence)
            self.new_macs.append((a.id, mac, first))
        elif action is merge.BindingAction.MERGE_IP_ASSET:
            assert mac_owner is not None and ip_owner is not None
            a = mac_owner
            repo.merge_into(s, a, ip_owner)
            self.forget()
            self.touched.discard(ip_owner.id)
            repo.put_address(s, a, "ip", vlan, ip, first, last, confidence)
            repo.put_address(s, a, "mac", vlan, mac, first, last, confidence)
        else:
            assert mac_owner is not None
            a = mac_owner
            repo.put_address(s, a, "ip", vlan, ip, first, last, confidence)
            repo.put_address(s, a, "mac", vlan, mac, first, last, confidence)
        repo.touch(a, first, last)
        self.touched.add(a.id)


def apply_batch(s: Session, batch: Batch) -> IngestResult:
    """Merge one validated batch inside the caller's transaction (the caller commits)."""
    with s.no_autoflush:                     # flushes happen where an id is needed, not before every query
        return _apply(s, batch)


def _apply(s: Session, batch: Batch) -> IngestResult:
    n = batch.size()
    if s.get_bind().dialect.name == "postgresql":
        # several sensors may ingest at once: merges are serialised so identity resolution is race-free
        s.execute(text("SELECT pg_advisory_xact_lock(7431)"))
    if repo.batch_applied(s, batch.sensor, batch.batch_id):
        return IngestResult("duplicate", n)
    ctx = _BatchContext(s, batch.sensor)
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
    for c in batch.comms:
        cl = ctx.resolve(c.client, c.first_seen, c.last_seen)
        sv = ctx.resolve(c.server, c.first_seen, c.last_seen)
        repo.put_comm(s, cl.id, sv.id, c.protocol, c.transport, c.port, c.packets, c.bytes, c.first_seen,
                      c.last_seen, c.profile)
    for t in batch.traffic:
        repo.put_traffic(s, batch.sensor, t.protocol, t.packets, t.bytes_seen, t.bytes_decoded)
    for an in batch.anomalies:
        repo.put_anomaly(s, batch.sensor, an.protocol, an.kind, an.count, evidence_text(an.evidence))
    s.flush()
    for asset_id, mac, first in ctx.new_macs:
        vendor = mac_vendor(mac)
        if vendor != UNKNOWN and s.get(Asset, asset_id) is not None:
            repo.put_fact(s, asset_id, "mac_vendor", vendor, "oui", f"OUI of {mac}", "scapy bundled OUI database",
                          batch.sensor, first, first)
    s.flush()
    _link_by_serial(s, ctx)
    for asset_id in sorted(ctx.touched):
        resummarize(s, asset_id)
    repo.record_batch(s, batch.sensor, batch.batch_id, time.time(), n)
    if batch.stats:
        repo.put_sensor(s, batch.sensor, time.time(), batch.stats)
    return IngestResult("applied", n)


def _link_by_serial(s: Session, ctx: _BatchContext) -> None:
    """Two top-level assets reporting the same vendor and serial number are one device."""
    for asset_id in sorted(ctx.touched):
        a = s.get(Asset, asset_id)
        if a is None or a.parent_id is not None:
            continue
        facts = repo.facts_of(s, asset_id)
        serials = {f.value for f in facts if f.field == "serial"}
        vendors = {f.value for f in facts if f.field == "vendor"}
        if not serials or not vendors:
            continue
        for serial in serials:
            for other_id in repo.assets_with_fact(s, "serial", serial):
                other = s.get(Asset, other_id)
                if other is None or other_id == asset_id or other.parent_id is not None:
                    continue
                if not vendors & {f.value for f in repo.facts_of(s, other_id) if f.field == "vendor"}:
                    continue
                keep, drop = (other, a) if other.id < a.id else (a, other)
                s.flush()
                repo.merge_into(s, keep, drop)
                ctx.forget()
                ctx.touched.discard(drop.id)
                ctx.touched.add(keep.id)
                return _link_by_serial(s, ctx)
    return None


def resummarize(s: Session, asset_id: int) -> None:
    a = s.get(Asset, asset_id)
    if a is None:
        return
    facts = [merge.FactView(f.field, f.value, f.protocol, f.last_seen) for f in repo.facts_of(s, asset_id)]
    kids = repo.children_of(s, asset_id)
    unit_children = sum(1 for k in kids if (k.component or "").startswith("unit:")) >= 2
    ports = repo.comm_ports(s, asset_id)
    # only IT traffic makes an it-host; an undecoded OT protocol (DNP3, IEC 104, ...) leaves the role unknown
    it_only = bool(ports) and not ports & OT_PORTS.keys()
    summary = merge.summarize(facts, has_children_units=unit_children, has_it_traffic=it_only)
    if a.parent_id is not None and summary.role is Role.UNKNOWN:
        summary.role = Role.PLC if (a.component or "").startswith(("unit:", "slot:", "rack:")) else Role.UNKNOWN
    repo.update_summary(s, asset_id, {
        "vendor": summary.vendor, "product": summary.product, "order_number": summary.order_number,
        "firmware": summary.firmware, "serial": summary.serial, "name": summary.name,
        "mac_vendor": summary.mac_vendor, "role": summary.role.value, "identified": summary.identified,
    })
    if a.parent_id is not None:
        resummarize(s, a.parent_id)             # a new child can turn its parent into a gateway


def ingest(factory: sessionmaker[Session], batch: Batch) -> IngestResult:
    """Apply a batch in its own transaction: all of it or none of it."""
    with factory() as s, s.begin():
        return apply_batch(s, batch)
