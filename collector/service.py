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
from otscope.collector import merge, repository as repo
from otscope.collector.models import Address, Asset, Fact
from otscope.collector.oui import UNKNOWN, mac_vendor
from otscope.contract import Batch, Evidence, FactObs, Subject
from otscope.dissectors.base import Role


@dataclass(frozen=True, slots=True)
class IngestResult:
    status: str            # applied | duplicate
    observations: int


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
        return a

    def address(self, a: Asset, kind: str, vlan: int, value: str, first: float, last: float,
                confidence: str | None = None) -> None:
        row = self.addresses.get((a.id, kind, vlan, value))
        if row is None:
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
        self.put_fact(asset_id, f.field, f.value, f.protocol, f.message, evidence_text(f.evidence), sensor,
                      f.first_seen, f.last_seen, f.subject.component or "")

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
    _split_gateways(ctx)
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
    repo.record_batch(s, batch.sensor, batch.batch_id, time.time(), n)
    if batch.stats:
        repo.put_sensor(s, batch.sensor, time.time(), batch.stats)
    return IngestResult("applied", n)


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
        repo.merge_into(s, keep, drop, moved_component=drop.component if drop.parent_id is not None else None)
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
        repo.merge_into(s, keep, drop)
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
    """Apply a batch in its own transaction: all of it or none of it."""
    with factory() as s, s.begin():
        return apply_batch(s, batch)
