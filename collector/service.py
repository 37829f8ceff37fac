"""Ingest service: one transaction per batch; the only place that commits.

Order inside a batch: bindings (they decide identity), hosts, facts, communications, traffic, anomalies;
then every touched asset's summary (vendor, product, firmware, role, ...) is recomputed from its facts by
the pure rules in merge.py, and identity facts (vendor + serial) link assets seen under two addresses.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session, sessionmaker

from otscope.dissectors.registry import OT_PORTS
from otscope.collector import events, merge, repository as repo
from otscope.collector.models import Address, Asset, Fact
from otscope.collector.oui import UNKNOWN, mac_vendor
from otscope.contract import ActionObs, Batch, Evidence, FactObs, Subject
from otscope.dissectors.base import Role


@dataclass(frozen=True, slots=True)
class IngestResult:
    status: str            # applied | duplicate
    observations: int
    events: tuple = ()     # the events this batch made or widened (collector/events.py), for the outputs


FactKey = tuple[str, str, str, str]           # field, value, protocol, component


def fact_key(f: Fact | NewFact) -> FactKey:
    return (f.field, f.value, f.protocol, f.component or "")


def evidence_text(ev: Evidence) -> str:
    if ev.frame is not None:
        return f"{ev.source}#frame {ev.frame}"
    stamp = datetime.fromtimestamp(ev.ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{ev.source}@{stamp}"


class NewFact(repo.PendingRow):
    """A fact this batch adds, written with the batch's other new facts by write_facts()."""

    COLUMNS = ("asset_id", "component", "field", "value", "protocol", "message", "evidence", "sensor", "first_seen",
               "last_seen")
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
        self.unit_hosts: set[int] = set()           # top-level assets given unit:N facts in this batch
        # the events layer (collector/events.py): what this batch may raise, with the batch's asset ids
        self.created: list[int] = []                # top-level assets this batch made (new-asset)
        self.created_set: set[int] = set()
        self.added: dict[tuple[int, str, int], set[str]] = {}   # (asset, ip|mac, vlan) -> addresses this batch gave
        self.merged: dict[int, int] = {}            # asset folded into another in this batch: drop -> keep
        self.occ: list[events.Occurrence] = []
        self.first_ev: dict[int, tuple[float, str]] = {}   # a new asset's earliest fact/binding evidence
        self.source = _batch_source_name(batch)
        self.preload()

    def preload(self) -> None:
        keys: set[tuple[str, int, str]] = set()
        subjects = [h.subject for h in self.batch.hosts] + [f.subject for f in self.batch.facts] + \
            [c.client for c in self.batch.comms] + [c.server for c in self.batch.comms] + \
            [a.server for a in self.batch.actions] + [a.client for a in self.batch.actions]
        for sj in subjects:
            keys.add(("mac", sj.vlan, sj.mac) if sj.mac is not None else ("ip", sj.vlan, sj.ip))  # type: ignore[arg-type]
        for bd in self.batch.bindings:
            keys.add(("mac", bd.vlan, bd.mac))
            keys.add(("ip", bd.vlan, bd.ip))
        self._rank: dict[tuple, tuple[float, int]] = {}           # owner's (last seen, row id) per address
        self.addresses: dict[tuple, Address] = {}                 # (asset, kind, vlan, value) -> row
        self.owners: dict[tuple, int] = {}                        # (kind, vlan, value) -> latest holder
        self.children: dict[tuple[int, str], int] = {}            # (parent, component) -> child
        # assets with a MAC bound to an IP (ARP, DHCP, DCP, TTL rule: a confidence); a MAC only heard as a frame's
        # source (an LLDP neighbour merged by its management address) does not make a later binding a new device
        self.macs: set[int] = set()
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
            if row.kind == "mac" and row.confidence:
                self.macs.add(row.asset_id)
        ids = sorted(set(self.owners.values()))
        # the session's identity map holds rows weakly: the batch keeps its assets alive, so get() never
        # goes back to the database for a row it has already loaded or made
        self.assets: dict[int, Asset] = {a.id: a for a in repo.load_assets(self.s, ids)}
        for aid in repo.assets_with_mac(self.s, ids):
            self.macs.add(aid)
        self.facts: dict[int, dict[FactKey, Fact | NewFact]] = {aid: {} for aid in ids}
        for f in repo.facts_for(self.s, ids):
            self.facts[f.asset_id][fact_key(f)] = f
        self.gateways: set[int] = set()                           # assets with Modbus unit children
        for cid, pid, comp in repo.children_for(self.s, ids):
            self.children[(pid, comp)] = cid
            if merge.unit_of(comp) is not None:
                self.gateways.add(pid)

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
        if parent_id is None:
            self.created.append(a.id)
            self.created_set.add(a.id)
        return a

    def merge(self, keep: Asset, drop: Asset, moved_component: str | None = None) -> None:
        repo.merge_into(self.s, keep, drop, moved_component=moved_component)
        self.merged[drop.id] = keep.id

    def final(self, aid: int | None) -> int | None:
        """An asset id of this batch after the merges it made."""
        for _ in range(64):
            if aid is None or aid not in self.merged:
                break
            aid = self.merged[aid]
        return aid

    def occur(self, kind: str, asset_id: int | None, client_id: int | None, protocol: str, detail: str,
              message: str, evidence: str, first: float, last: float, count: int = 1, technique: str | None = "",
              once: bool | None = None) -> None:
        self.occ.append(events.Occurrence(
            kind, asset_id, client_id, protocol, detail, message, evidence, self.sensor, first, last, count,
            events.KIND_TECHNIQUE.get(kind) if technique == "" else technique, once))

    def seen_evidence(self, asset_id: int, ts: float, evidence: str) -> None:
        if evidence.endswith("#frame 0"):
            return                              # a binding inferred from TTLs (agent/snapshot.py): no frame of its own
        cur = self.first_ev.get(asset_id)
        if cur is None or ts < cur[0]:
            self.first_ev[asset_id] = (ts, evidence)

    def time_evidence(self, ts: float) -> str:
        """Evidence for what has no frame (a host, a conversation): the batch's capture (or sensor) and a time."""
        return f"{self.source}@{events.stamp(ts)}"

    def address(self, a: Asset, kind: str, vlan: int, value: str, first: float, last: float,
                confidence: str | None = None) -> None:
        row = self.addresses.get((a.id, kind, vlan, value))
        if row is None:
            if kind == "ip" or confidence:
                self.added.setdefault((a.id, kind, vlan), set()).add(value)
            row = Address(asset_id=a.id, kind=kind, vlan=vlan, value=value, confidence=confidence, first_seen=first,
                          last_seen=last)
            self.s.add(row)
            self.addresses[(a.id, kind, vlan, value)] = row
            if kind == "mac" and confidence:
                self.macs.add(a.id)
        else:
            repo.widen(row, first, last)
            if confidence == "high" or (confidence and not row.confidence):
                row.confidence = confidence
            if kind == "mac" and row.confidence:
                self.macs.add(a.id)
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
            if merge.unit_of(subj.component) is not None and a.id not in self.gateways:
                self.unit_hosts.add(a.id)       # one device = one asset until several units answer (gateway)
                return a
            a = self.child(a, subj.component, first, last)
        return a

    def child(self, parent: Asset, component: str, first: float, last: float) -> Asset:
        key = (parent.id, component)
        cid = self.children.get(key)
        a = self.asset(cid) if cid is not None else None
        if a is None:
            a = self.make_asset(first, last, parent_id=parent.id, component=component)
            self.children[key] = a.id
        else:
            repo.touch(a, first, last)
        self.touched.add(a.id)
        return a

    def fact(self, asset_id: int, f: FactObs, sensor: str) -> None:
        if f.field == "role_hint" and f.value == Role.GATEWAY.value:
            self.unit_hosts.add(asset_id)
        if f.field in IDENTITY_FIELDS:
            self._identity_change(asset_id, f)
        if asset_id in self.created_set:
            self.seen_evidence(asset_id, f.first_seen, evidence_text(f.evidence))
        self.put_fact(asset_id, f.field, f.value, f.protocol, f.message, evidence_text(f.evidence), sensor,
                      f.first_seen, f.last_seen, f.subject.component or "")

    def _identity_change(self, asset_id: int, f: FactObs) -> None:
        """identity-change / firmware-change: a value of an identity field that differs from the one this asset
        had (same field, protocol and component) before this batch."""
        known = self.known_facts(asset_id)
        comp = f.subject.component or ""
        if (f.field, f.value, f.protocol, comp) in known:
            return
        old = sorted((r.last_seen, r.value) for k, r in known.items()
                     if isinstance(r, Fact) and k[0] == f.field and k[2] == f.protocol and k[3] == comp)
        if not old:
            return
        kind = "firmware-change" if f.field == "firmware" else "identity-change"
        self.occur(kind, asset_id, None, f.protocol, f"{f.field}: {old[-1][1]} -> {f.value}"[:256],
                   f"{f.message}: {f.field} was {old[-1][1]!r}"[:512], evidence_text(f.evidence), f.first_seen,
                   f.last_seen)

    def known_facts(self, asset_id: int) -> dict[FactKey, Fact | NewFact]:
        known = self.facts.get(asset_id)
        if known is None:
            known = self.facts[asset_id] = {fact_key(x): x for x in repo.facts_of(self.s, asset_id)}
        return known

    def put_fact(self, asset_id: int, field: str, value: str, protocol: str, message: str, evidence: str,
                 sensor: str, first: float, last: float, component: str = "") -> None:
        """One value of one field from one protocol (and one unit or slot): kept beside other values, first/last
        seen widened."""
        known = self.known_facts(asset_id)
        key = (field, value, protocol, component)
        row = known.get(key)
        if row is None:
            new = NewFact(asset_id=asset_id, component=component, field=field, value=value, protocol=protocol,
                          message=message, evidence=evidence, sensor=sensor, first_seen=first, last_seen=last)
            self.new_facts.append(new)
            known[key] = new
            return
        if isinstance(row, NewFact) and row.written:
            raise RuntimeError("a new fact changed after it was written")     # a bug in the order of _apply
        repo.widen_fact(row, first, last, evidence, message)

    def facts_of(self, asset_id: int) -> list[Fact | NewFact]:
        known = self.facts.get(asset_id)
        if known is None:
            return list(repo.facts_of(self.s, asset_id))
        return list(known.values())

    def bind(self, vlan: int, ip: str, mac: str, confidence: str, first: float, last: float,
             evidence: str = "", protocol: str = "") -> None:
        s = self.s
        mac_owner = self.owner("mac", vlan, mac)
        ip_owner = self.owner("ip", vlan, ip)
        action = merge.plan_binding(
            merge.Owner(mac_owner.id, True) if mac_owner else None,
            merge.Owner(ip_owner.id, ip_owner.id in self.macs) if ip_owner else None)
        change = self._address_change(action, vlan, ip, mac, mac_owner, ip_owner) \
            if confidence == "high" and evidence else None
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
            self.merge(a, ip_owner)
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
        if a.id in self.created_set and evidence:
            self.seen_evidence(a.id, first, evidence)
        if change is not None:
            kind, detail, before = change
            self.occur(kind, a.id, None, protocol, detail, f"{detail.split(':')[0]} bound by {protocol or 'a binding'}"
                       f" (before: {before})", evidence, first, last)

    def _address_change(self, action: merge.BindingAction, vlan: int, ip: str, mac: str, mac_owner: Asset | None,
                        ip_owner: Asset | None) -> tuple[str, str, str] | None:
        """(kind, detail, before) when a high-confidence binding (ARP, DHCP, DCP) shows an address change:
        ip-change, a MAC known with another IP now has this one (DCP Set, DHCP); mac-change, an IP known with
        another MAC now answers from this one. Read before the binding is applied."""
        if mac_owner is not None and (ip_owner is None or ip_owner.id != mac_owner.id):
            olds = (repo_ips(self.s, mac_owner.id, vlan) | self.added.get((mac_owner.id, "ip", vlan), set())) - {ip}
            if olds:
                before = ", ".join(sorted(olds)[:4])
                return "ip-change", f"{mac}: {before} -> {ip}", before
        elif action is merge.BindingAction.NEW_HOLDER and ip_owner is not None:
            olds = (repo_macs(self.s, ip_owner.id, vlan) | self.added.get((ip_owner.id, "mac", vlan), set())) - {mac}
            if olds:
                before = ", ".join(sorted(olds)[:4])
                return "mac-change", f"{ip}: {before} -> {mac}", before
        return None


IDENTITY_FIELDS = frozenset({"vendor", "product", "model", "serial", "order_number", "firmware"})


def repo_ips(s: Session, asset_id: int, vlan: int) -> set[str]:
    from sqlalchemy import select

    return set(s.scalars(select(Address.value).where(Address.asset_id == asset_id, Address.kind == "ip",
                                                     Address.vlan == vlan)))


def repo_macs(s: Session, asset_id: int, vlan: int) -> set[str]:
    from sqlalchemy import select

    return set(s.scalars(select(Address.value).where(Address.asset_id == asset_id, Address.kind == "mac",
                                                     Address.vlan == vlan, Address.confidence.is_not(None))))


def _batch_source_name(batch: Batch) -> str:
    """The capture a batch came from (its observations' evidence source), or ``sensor:<name>``."""
    for group in (batch.facts, batch.bindings, batch.actions, batch.anomalies):
        for o in group[:1]:
            return o.evidence.source
    return f"sensor:{batch.sensor}"


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
        ctx.bind(b.vlan, b.ip, b.mac, b.confidence, b.first_seen, b.last_seen, evidence_text(b.evidence), b.protocol)
    for h in batch.hosts:
        a = ctx.resolve(h.subject, h.first_seen, h.last_seen)
        if h.sent and not a.sent:
            a.sent = True
    acts = _actions_before_facts(ctx, batch.actions)
    for f in batch.facts:
        a = ctx.resolve(f.subject, f.first_seen, f.last_seen)
        ctx.fact(a.id, f, batch.sensor)
        if f.field == "protocol" and f.value.endswith("-server"):
            a.sent = True                       # a server that answered has spoken
    _split_gateways(ctx)
    _action_events(ctx, acts)
    ends = [(ctx.resolve(c.client, c.first_seen, c.last_seen).id, ctx.resolve(c.server, c.first_seen, c.last_seen).id)
            for c in batch.comms]
    known = repo.comms_between(s, sorted({cl for cl, _sv in ends}))
    before = {(k[0], k[1], k[2]): bool(events.writes(r.protocol, r.profile)) for k, r in known.rows.items()}
    # confirmed conversations first, so an unconfirmed part in the same batch joins them
    order = sorted(range(len(ends)), key=lambda i: merge.is_placeholder(batch.comms[i].protocol,
                                                                       batch.comms[i].transport, batch.comms[i].port))
    for i in order:
        (cl, sv), c = ends[i], batch.comms[i]
        repo.add_comm(s, known, cl, sv, c.protocol, c.transport, c.port, c.packets, c.bytes, c.first_seen,
                      c.last_seen, c.profile)
    _conversation_events(ctx, known, before, ends)
    for t in batch.traffic:
        repo.put_traffic(s, batch.sensor, t.protocol, t.packets, t.bytes_seen, t.bytes_decoded)
    for an in batch.anomalies:
        repo.put_anomaly(s, batch.sensor, an.protocol, an.kind, an.count, evidence_text(an.evidence))
        if events.is_burst(an.protocol, an.kind, an.count):
            ctx.occur("protocol-anomaly", None, None, an.protocol, f"{an.protocol}: {an.kind}"[:256],
                      f"{an.count} frames with anomaly {an.kind!r} in one batch", evidence_text(an.evidence),
                      an.evidence.ts, an.evidence.ts, an.count)
    s.flush()
    for asset_id, mac, first in ctx.new_macs:
        vendor = mac_vendor(mac)
        if vendor != UNKNOWN and ctx.asset(asset_id) is not None:
            ctx.put_fact(asset_id, "mac_vendor", vendor, "oui", f"OUI of {mac}", "scapy bundled OUI database",
                         batch.sensor, first, first)
    ctx.write_facts()
    repo.write_comms(s, known)
    _link_by_serial(s, ctx)
    _link_l2(s, ctx)
    ctx.write_facts()
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
    ctx.occ.extend(_segmentation_occurrences(s, batch))
    raised = _record_events(s, ctx, batch)
    repo.record_batch(s, batch.sensor, batch.batch_id, time.time(), n)
    if batch.stats:
        repo.put_sensor(s, batch.sensor, time.time(), batch.stats)
    return IngestResult("applied", n, raised)


# --- events (collector/events.py holds the rules) ---------------------------------------------------------------

def _actions_before_facts(ctx: _BatchContext, actions: list[ActionObs]) -> list[tuple[ActionObs, int, int, str | None]]:
    """Resolve each action's server and client, and the server's CPU state known before this batch (the facts
    of this batch widen it, so it is read first)."""
    out = []
    for a in actions:
        sv = ctx.resolve(a.server, a.first_seen, a.last_seen).id
        cl = ctx.resolve(a.client, a.first_seen, a.last_seen).id
        prev = None
        if a.field == "cpu_state":
            states = sorted((r.last_seen, r.value) for k, r in ctx.known_facts(sv).items()
                            if k[0] == "cpu_state" and isinstance(r, Fact))
            prev = states[-1][1] if states else None
        out.append((a, sv, cl, prev))
    return out


def _action_events(ctx: _BatchContext, acts: list[tuple[ActionObs, int, int, str | None]]) -> None:
    states: dict[tuple[int, str], tuple[str | None, list[tuple[float, str, ActionObs, int]]]] = {}
    for a, sv, cl, prev in acts:
        if a.field == "cpu_state":
            ent = states.setdefault((sv, a.protocol), (prev, []))
            ent[1].append((a.first_seen, a.action, a, cl))
            continue
        rule = events.classify_action(a.field, a.protocol, a.action)
        if rule is None:
            continue
        ctx.occur(rule.kind, sv, cl, a.protocol, rule.detail, f"{a.message}: {a.action}"[:512],
                  evidence_text(a.evidence), a.first_seen, a.last_seen, a.count, rule.technique)
    for (sv, proto), (prev, seen) in states.items():
        by_time = {(ts, st): (a, cl) for ts, st, a, cl in seen}
        for ts, kind, detail in events.cpu_transitions(prev, [(ts, st) for ts, st, _a, _c in seen]):
            a, cl = by_time[(ts, detail.removeprefix("CPU state "))]
            # the client is who read (or was told) the new state, not necessarily who changed it
            ctx.occur(kind, sv, None, proto, detail, f"{a.message}: CPU state {a.action} (before: {prev or '?'}), "
                      f"reported to {a.client.ip or a.client.mac}"[:512], evidence_text(a.evidence), ts, ts)
            prev = a.action


def _conversation_events(ctx: _BatchContext, known: repo.CommIndex, before: dict[tuple, bool],
                         ends: list[tuple[int, int]]) -> None:
    """new-conversation (a client/server/protocol never seen), write-from-new-client (writes to a server from a
    client never seen writing to it), time-set (DNP3 / IEC 104 clock synchronisation by a new master)."""
    for (cl, sv, label, transport, port), row in known.rows.items():
        if (cl, sv, label) in before or merge.is_placeholder(label, transport, port):
            continue
        ctx.occur("new-conversation", sv, cl, label, label, f"first {label} conversation ({transport}/{port})",
                  ctx.time_evidence(row.first_seen), row.first_seen, row.last_seen)
    done: set[tuple[int, int, str]] = set()
    for (cl, sv), c in zip(ends, ctx.batch.comms):
        n = events.writes(c.protocol, c.profile)
        if n and not before.get((cl, sv, c.protocol)) and (cl, sv, c.protocol) not in done:
            done.add((cl, sv, c.protocol))
            ctx.occur("write-from-new-client", sv, cl, c.protocol, c.protocol,
                      f"{n} {c.protocol} write(s) from a client not seen writing to this server",
                      ctx.time_evidence(c.first_seen), c.first_seen, c.last_seen, n)
        t = events.time_syncs(c.protocol, c.profile)
        if t:
            ctx.occur("time-set", sv, cl, c.protocol, f"{c.protocol} time sync", f"{t} {c.protocol} clock "
                      "synchronisation(s)", ctx.time_evidence(c.first_seen), c.first_seen, c.last_seen, t, None,
                      once=True)


def _record_events(s: Session, ctx: _BatchContext, batch: Batch) -> tuple:
    """The batch's occurrences (with its final asset ids) into events, learning decided per occurrence."""
    for aid in ctx.created:
        a = ctx.asset(aid)
        if a is None or aid in ctx.merged:
            continue
        ts, ev = ctx.first_ev.get(aid) or (a.first_seen, ctx.time_evidence(a.first_seen))
        ctx.occur("new-asset", aid, None, "", "", "an address not seen before", ev, a.first_seen, a.last_seen)
    if not ctx.occ:
        return ()
    for o in ctx.occ:
        o.asset_id, o.client_id = ctx.final(o.asset_id), ctx.final(o.client_id)
    source = events.batch_source(batch.batch_id)
    state = events.start_learning(s, events.load_state(s), source, min(o.first_seen for o in ctx.occ))
    hours, first_file = events.learning_hours(), events.learning_first_file()
    learning = [events.is_learning(state, source, o.first_seen, hours, first_file) for o in ctx.occ]
    return tuple(events.record(s, ctx.occ, learning))


def _segmentation_occurrences(s: Session, batch: Batch) -> list[events.Occurrence]:
    """The segmentation findings (collector/findings.py) of the inventory as this batch leaves it, as events (one
    per finding, ever). Only a batch with conversations or addresses can change them."""
    if not (batch.comms or batch.bindings or batch.hosts):
        return []
    from otscope.collector import findings, zones

    s.flush()
    model, hosts = zones.current(s)
    found = findings.compute(model, hosts, zones.load_convs(s))
    ts = max((c.last_seen for c in batch.comms), default=time.time())
    return findings.occurrences(found, batch.sensor, ts)


def _split_gateways(ctx: _BatchContext) -> None:
    """interfaces.md, Modbus: facts of unit N stay on the address's asset (one device, one asset) until the
    address is a gateway (>= 2 units answered, or it said so with exception 0x0A/0x0B); then each unit becomes a
    child asset and its facts move to it (units only written to included). One pass over the batch's cache."""
    for aid in sorted(ctx.unit_hosts - ctx.gateways):
        a = ctx.asset(aid)
        known = ctx.known_facts(aid)
        if a is None or not merge.is_modbus_gateway(_views(known.values())):
            continue
        ctx.gateways.add(aid)
        for key, row in list(known.items()):
            comp = key[3]
            if merge.unit_of(comp) is None:
                continue
            child = ctx.child(a, comp, row.first_seen, row.last_seen)
            if row.field == "protocol" and row.value.endswith("-server"):
                child.sent = True
            _move_fact(ctx, row, key, child.id)


def _move_fact(ctx: _BatchContext, row: Fact | NewFact, key: FactKey, to: int) -> None:
    """Move one cached fact to another asset (it keeps its frame, message and component)."""
    del ctx.facts[row.asset_id][key]
    dest = ctx.known_facts(to)
    same = dest.get(key)
    if same is None:
        row.asset_id = to
        dest[key] = row
        return
    repo.widen_fact(same, row.first_seen, row.last_seen, row.evidence, row.message)
    if isinstance(row, NewFact):
        ctx.new_facts.remove(row)
    else:
        ctx.s.delete(row)


def _views(rows: Iterable[Fact | NewFact]) -> list[merge.FactView]:
    return [merge.FactView(f.field, f.value, f.protocol, f.last_seen, f.component or "", f.message, f.evidence)
            for f in rows]


def _link_by_serial(s: Session, ctx: _BatchContext) -> None:
    """Assets with the same vendor + serial number are one device (a routed CIP slot child and its parent or a
    sibling, two addresses of one module, across batches): merge.plan_identity_merges groups them in one pass,
    then one reload of the batch caches (no recursion)."""
    serials = sorted({k[1] for aid in ctx.touched for k in ctx.facts.get(aid, {})
                      if k[0] == "serial" and merge.meaningful_serial(k[1])})
    if not serials:
        return
    ctx.write_facts()
    idents: dict[int, dict[str, set[str]]] = {}
    where: dict[int, tuple[int | None, str | None]] = {}
    serial_fact: dict[int, Fact] = {}
    for f, parent, comp in repo.identity_facts(s, serials, ("vendor", "serial", "product_code")):
        idents.setdefault(f.asset_id, {}).setdefault(f.field, set()).add(f.value)
        where[f.asset_id] = (parent, comp)
        if f.field == "serial":
            serial_fact.setdefault(f.asset_id, f)
    plan = merge.plan_identity_merges([
        merge.Ident(aid, where[aid][0], where[aid][1], frozenset(v.get("vendor", ())), frozenset(v.get("serial", ())),
                    frozenset(v.get("product_code", ()))) for aid, v in sorted(idents.items())])
    if not plan:
        return
    slots: list[tuple[int, str, Fact]] = []
    for fold in plan:
        keep, drop = ctx.asset(fold.keep), ctx.asset(fold.drop)
        if keep is None or drop is None:
            continue
        ctx.merge(keep, drop, moved_component=drop.component if drop.parent_id is not None else None)
        ctx.touched.discard(drop.id)
        ctx.touched.add(keep.id)
        if fold.slot:
            slots.append((keep.id, fold.slot, serial_fact[fold.drop]))
    ctx.forget()
    for keep_id, slot, f in slots:
        n = slot.removeprefix("slot:")
        ctx.put_fact(keep_id, "slot", n, f.protocol, f"CIP identity routed to backplane {slot} has this device's "
                     "vendor and serial number: the same module", f.evidence, f.sensor, f.first_seen, f.last_seen)


L2_CLAIMS = ("management_ip", "chassis_mac")


def _link_l2(s: Session, ctx: _BatchContext) -> None:
    """An LLDP/CDP neighbour known only by a MAC whose management address (or chassis MAC) is an address of an
    IP asset is that asset (merge.plan_l2_merges); works whichever side arrived first (two queries a batch)."""
    values: set[str] = set()
    for aid in ctx.touched:
        values.update(k[1] for k in ctx.facts.get(aid, {}) if k[0] in L2_CLAIMS)
    values.update(v for (aid, _kind, _vlan, v) in ctx.addresses if aid in ctx.touched)
    if not values:
        return
    claims: dict[int, tuple[set[str], set[str]]] = {}
    for aid, field, value in repo.facts_with_values(s, L2_CLAIMS, sorted(values)):
        ips, macs = claims.setdefault(aid, (set(), set()))
        (ips if field == "management_ip" else macs).add(value)
    if not claims:
        return
    claimed = sorted({v for ips, macs in claims.values() for v in ips | macs})
    rows = repo.addresses_near(s, claimed, sorted(claims))
    has_ip = {aid for aid, kind, _v, parent in rows if kind == "ip" and parent is None}
    tops = {aid for aid, _k, _v, parent in rows if parent is None}
    ip_owners: dict[str, set[int]] = {}
    mac_owners: dict[str, set[int]] = {}
    for aid, kind, value, _parent in rows:
        if aid in has_ip:
            (ip_owners if kind == "ip" else mac_owners).setdefault(value, set()).add(aid)
    plan = merge.plan_l2_merges([merge.L2Claim(aid, frozenset(ips), frozenset(macs))
                                 for aid, (ips, macs) in sorted(claims.items()) if aid in tops and aid not in has_ip],
                                ip_owners, mac_owners)
    if not plan:
        return
    ctx.write_facts()
    for keep_id, drop_id in plan:
        keep, drop = ctx.asset(keep_id), ctx.asset(drop_id)
        if keep is None or drop is None:
            continue
        ctx.merge(keep, drop)
        ctx.touched.discard(drop_id)
        ctx.touched.add(keep_id)
    ctx.forget()


def _resummarize(s: Session, ctx: _BatchContext, asset_id: int, children: list[str], ports: set[int]) -> None:
    """Recompute an asset's shown identity and role from all its facts (pure rules in merge.py)."""
    a = ctx.asset(asset_id)
    if a is None:
        return
    facts = _views(ctx.facts_of(asset_id))
    units = sum(1 for c in children if merge.unit_of(c) is not None)
    gateway = units > 0 or (a.parent_id is None and merge.is_modbus_gateway(facts))
    # only IT traffic makes an it-host; an undecoded OT protocol (DNP3, IEC 104, ...) leaves the role unknown
    it_only = bool(ports) and not ports & OT_PORTS.keys()
    summary = merge.summarize(merge.own_facts(facts, gateway), has_children_units=units >= 2,
                              has_it_traffic=it_only)
    if a.parent_id is not None and summary.role is Role.UNKNOWN and \
            (a.component or "").startswith(("unit:", "slot:", "rack:")):
        summary.role, summary.role_evidence = Role.PLC, f"a module or unit ({a.component}) behind its parent's address"
    a.vendor, a.product, a.order_number = summary.vendor, summary.product, summary.order_number
    a.firmware, a.serial, a.name, a.mac_vendor = summary.firmware, summary.serial, summary.name, summary.mac_vendor
    a.role, a.identified = summary.role.value, summary.identified
    a.role_evidence = summary.role_evidence[:512] or None


def ingest(factory: sessionmaker[Session], batch: Batch) -> IngestResult:
    """Apply a batch in its own transaction: all of it or none of it; then its raised events go to the outputs."""
    with factory() as s:
        with s.begin():
            res = apply_batch(s, batch)
        events.publish(s, res.events)          # and a queue an outage left is retried
    return res
