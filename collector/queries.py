"""Read side: the inventory as plain dicts (the output contract of `otscope assets` and the API)."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from otscope.collector import merge
from otscope.collector.models import Address, AnomalyStat, Asset, Communication, Fact, TrafficStat
from otscope.dissectors.base import Role

ASSET_TARGET = 0.95
TRAFFIC_TARGET = 0.80


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ip_key(ip: str) -> tuple[int, int]:
    try:
        a = ipaddress.ip_address(ip)
        return (a.version, int(a))
    except ValueError:
        return (9, 0)


@dataclass(slots=True)
class AssetBundle:
    asset: Asset
    addresses: list[Address]
    facts: list[Fact]
    children: list[int]


def load_bundles(s: Session, asset_ids: Sequence[int] | None = None) -> list[AssetBundle]:
    q = select(Asset).order_by(Asset.id)
    if asset_ids is not None:
        q = q.where(Asset.id.in_(asset_ids))
    assets = s.scalars(q).all()
    ids = [a.id for a in assets]
    addrs: dict[int, list[Address]] = defaultdict(list)
    facts: dict[int, list[Fact]] = defaultdict(list)
    kids: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(ids, 900):
        for ad in s.scalars(select(Address).where(Address.asset_id.in_(chunk))):
            addrs[ad.asset_id].append(ad)
        for f in s.scalars(select(Fact).where(Fact.asset_id.in_(chunk))):
            facts[f.asset_id].append(f)
        for cid, pid in s.execute(select(Asset.id, Asset.parent_id).where(Asset.parent_id.in_(chunk))):
            kids[pid].append(cid)
    return [AssetBundle(a, addrs[a.id], facts[a.id], sorted(kids[a.id])) for a in assets]


def _chunks(seq: Sequence[int], n: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def fact_dict(f: Fact) -> dict[str, Any]:
    return {"field": f.field, "value": f.value, "protocol": f.protocol, "component": f.component or None,
            "message": f.message,
            "evidence": f.evidence, "sensor": f.sensor, "first_seen": iso(f.first_seen), "last_seen": iso(f.last_seen)}


def asset_dict(b: AssetBundle, *, with_facts: bool = True) -> dict[str, Any]:
    a = b.asset
    ips = sorted({ad.value for ad in b.addresses if ad.kind == "ip"}, key=_ip_key)
    macs = sorted({ad.value for ad in b.addresses if ad.kind == "mac"})
    vlans = sorted({ad.vlan for ad in b.addresses})
    protocols = sorted({f.value for f in b.facts if f.field == "protocol"})
    facts = sorted(b.facts, key=lambda f: (f.field, f.value, f.protocol, f.component or ""))
    conflicts = _conflicts(facts)
    out: dict[str, Any] = {
        "id": a.id, "parent": a.parent_id, "component": a.component, "children": b.children,
        "ips": ips, "macs": macs, "vlans": vlans, "role": a.role, "role_evidence": a.role_evidence,
        "vendor": a.vendor, "product": a.product,
        "order_number": a.order_number, "firmware": a.firmware, "serial": a.serial, "name": a.name,
        "mac_vendor": a.mac_vendor, "identified": a.identified, "protocols": protocols,
        "first_seen": iso(a.first_seen), "last_seen": iso(a.last_seen), "conflicts": conflicts,
    }
    if with_facts:
        out["facts"] = [fact_dict(f) for f in facts]
    return out


def _conflicts(facts: Sequence[Fact]) -> dict[str, list[dict[str, Any]]]:
    by_field: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        if f.field in merge.IDENTITY_FIELDS:
            by_field[f.field].append(f)
    return {k: [{"value": f.value, "protocol": f.protocol, "evidence": f.evidence} for f in v]
            for k, v in by_field.items() if len({f.value for f in v}) > 1}


def list_assets(s: Session, *, with_facts: bool = True) -> list[dict[str, Any]]:
    return [asset_dict(b, with_facts=with_facts) for b in load_bundles(s)]


def get_asset(s: Session, asset_id: int) -> dict[str, Any] | None:
    bundles = load_bundles(s, [asset_id])
    return asset_dict(bundles[0]) if bundles else None


# --- coverage ---------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Light:
    """What coverage needs of an asset, read with plain column queries (no ORM objects: 10k assets fast)."""

    id: int
    parent: int | None
    component: str | None
    role: str
    summary: merge.Summary
    sent: bool
    first_seen: float
    last_seen: float
    name: str | None
    ips: list[str]
    vlans: list[int]
    encrypted: str = ""             # the value of an ``encrypted`` fact ("" = none)
    method: str = "none"            # how its identity facts were obtained: passive | active | both | none


ACTIVE_SENSOR = "active:"           # the sensor name of facts from `otscope identify` (otscope/active/run.py)
# the fields that make up a device's identity (vendor, product and its stand-ins, firmware, serial, name)
METHOD_FIELDS = merge.IDENTITY_FIELDS + ("model", "product_code")


def identity_method(sensors: set[bool]) -> str:
    """passive | active | both | none, from whether each identity fact came from an active request."""
    if not sensors:
        return "none"
    if sensors == {True}:
        return "active"
    return "both" if True in sensors else "passive"


def _light_assets(s: Session) -> list[_Light]:
    protos: dict[int, list[str]] = defaultdict(list)
    encrypted: dict[int, str] = {}
    oses: dict[int, list[merge.FactView]] = defaultdict(list)
    for aid, field, value, proto, comp in s.execute(
            select(Fact.asset_id, Fact.field, Fact.value, Fact.protocol, Fact.component)
            .where(Fact.field.in_(("protocol", "encrypted", "os", "os_family")))):
        if field == "protocol":
            protos[aid].append(value)
        elif field == "encrypted":
            encrypted[aid] = min(value, encrypted.get(aid, value))
        elif not comp:
            oses[aid].append(merge.FactView(field, value, proto, 0.0))
    methods: dict[int, set[bool]] = defaultdict(set)
    for aid, sensor in s.execute(select(Fact.asset_id, Fact.sensor).where(Fact.field.in_(METHOD_FIELDS))
                                 .distinct()):
        methods[aid].add(sensor.startswith(ACTIVE_SENSOR))
    ips: dict[int, list[str]] = defaultdict(list)
    vlans: dict[int, set[int]] = defaultdict(set)
    for aid, kind, vlan, value in s.execute(select(Address.asset_id, Address.kind, Address.vlan, Address.value)):
        vlans[aid].add(vlan)
        if kind == "ip":
            ips[aid].append(value)
    out = []
    for row in s.execute(select(Asset.id, Asset.parent_id, Asset.component, Asset.role, Asset.vendor, Asset.product,
                                Asset.order_number, Asset.firmware, Asset.sent, Asset.first_seen, Asset.last_seen,
                                Asset.name).order_by(Asset.id)):
        aid, parent, comp, role, vendor, product, order, fw, sent, first, last, name = row
        os_name, os_family, os_strong = merge.os_view(oses.get(aid, ()))
        summ = merge.Summary(vendor=vendor, product=product, order_number=order, firmware=fw, role=Role(role),
                             protocols=sorted(set(protos.get(aid, ()))), name=name, os=os_name, os_family=os_family,
                             os_strong=os_strong)
        out.append(_Light(aid, parent, comp, role, summ, bool(sent), first, last, name,
                          sorted(ips.get(aid, []), key=_ip_key),
                          sorted(vlans.get(aid, ())), encrypted.get(aid, ""),
                          identity_method(methods.get(aid, set()))))
    return out


def _subnet_of(ips: list[str]) -> str:
    for ip in ips:
        try:
            return str(ipaddress.ip_network(f"{ip}/{24 if ':' not in ip else 64}", strict=False))
        except ValueError:
            continue
    return "layer-2 only"


def _share(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def coverage(s: Session, *, target: float = ASSET_TARGET, traffic_target: float = TRAFFIC_TARGET) -> dict[str, Any]:
    """Coverage counts devices: the denominator is the top-level OT assets; backplane modules and units behind a
    gateway are listed as components of their chassis/gateway (their own section), never as extra assets."""
    light = _light_assets(s)
    ot = [x for x in light if x.parent is None and merge.is_ot(x.summary)]
    components = [{"asset": x.id, "parent": x.parent, "component": x.component, "role": x.role,
                   "vendor": x.summary.vendor, "product": x.summary.product or x.summary.order_number,
                   "firmware": x.summary.firmware, "identified": x.summary.identified,
                   "identity_method": x.method}
                  for x in light if x.parent is not None]
    total = len(ot)
    identified = sum(1 for x in ot if x.summary.identified)
    fields = {
        "vendor": _share(sum(1 for x in ot if x.summary.vendor), total),
        "product": _share(sum(1 for x in ot if x.summary.product or x.summary.order_number), total),
        "firmware": _share(sum(1 for x in ot if x.summary.firmware), total),
    }
    groups: dict[str, dict[str, list[int]]] = {"subnet": defaultdict(lambda: [0, 0]),
                                                "vlan": defaultdict(lambda: [0, 0])}
    for x in ot:
        for kind, key in (("subnet", _subnet_of(x.ips)), ("vlan", str(x.vlans[0] if x.vlans else 0))):
            g = groups[kind][key]
            g[0] += 1
            g[1] += int(x.summary.identified)
    # sums as floats: an integer SUM over many saturated rows would overflow (SQLite raises on it)
    seen, decoded, packets = s.execute(select(func.coalesce(func.sum(cast(TrafficStat.bytes_seen, Float)), 0),
                                              func.coalesce(func.sum(cast(TrafficStat.bytes_decoded, Float)), 0),
                                              func.coalesce(func.sum(cast(TrafficStat.packets, Float)), 0))).one()
    per_proto = [{"protocol": p, "bytes_seen": int(bs), "bytes_decoded": int(bd), "share": _share(int(bd), int(bs))}
                 for p, bs, bd in s.execute(select(TrafficStat.protocol, func.sum(cast(TrafficStat.bytes_seen, Float)),
                                                   func.sum(cast(TrafficStat.bytes_decoded, Float)))
                                            .group_by(TrafficStat.protocol).order_by(TrafficStat.protocol))]
    gaps = []
    for x in ot:
        if x.summary.identified:
            continue
        reason, action = _gap(x)
        gaps.append({"asset": x.id, "ips": x.ips, "role": x.role, "name": x.name, "missing": x.summary.missing(),
                     "reason": reason, "action": action, "asset_class": x.summary.asset_class.value,
                     "identity_method": x.method})
    classes = _classes([x for x in light if x.parent is None])
    asset_cov = _share(identified, total)
    traffic_share, traffic_pass, traffic_status = merge.traffic_verdict(int(seen), int(decoded), traffic_target)
    return {
        "target": target, "assets_total": total, "assets_identified": identified, "asset_coverage": asset_cov,
        "pass": asset_cov >= target if total else False,
        "fields": fields,
        "by_subnet": [{"subnet": k, "assets": v[0], "identified": v[1], "coverage": _share(v[1], v[0])}
                      for k, v in sorted(groups["subnet"].items())],
        "by_vlan": [{"vlan": int(k), "assets": v[0], "identified": v[1], "coverage": _share(v[1], v[0])}
                    for k, v in sorted(groups["vlan"].items(), key=lambda kv: int(kv[0]))],
        "traffic": {"ot_bytes": int(seen), "ot_bytes_decoded": int(decoded), "ot_packets": int(packets),
                    "share": traffic_share, "target": traffic_target, "pass": traffic_pass, "status": traffic_status,
                    "by_protocol": per_proto},
        "components": components,
        "gaps": gaps,
        "classes": classes,
        "identification": _identification(ot),
    }


def _identification(ot: list[_Light]) -> dict[str, Any]:
    """Passive and active identification side by side over the OT devices: how each device's identity facts
    were obtained (listening, `otscope identify`, both, neither), and the same for the identified ones."""
    out: dict[str, Any] = {m: 0 for m in ("passive", "active", "both", "none")}
    ident: dict[str, int] = {m: 0 for m in ("passive", "active", "both", "none")}
    for x in ot:
        out[x.method] += 1
        if x.summary.identified:
            ident[x.method] += 1
    out["identified"] = ident
    return out


def _gap(x: _Light) -> tuple[str, str]:
    protos = x.summary.protocols
    servers = [p for p in protos if p.endswith("-server")]
    return merge.gap_reason(merge.GapInput(x.id, x.summary, x.sent, x.last_seen - x.first_seen, bool(x.encrypted),
                                           is_client_only=not servers and any(p.endswith("-client") for p in protos),
                                           encrypted_how=x.encrypted))


MAX_CLASS_GAPS = 8           # gap reasons listed per class (the most frequent; the asset gaps above are all OT ones)


def _classes(top: list[_Light]) -> list[dict[str, Any]]:
    """One line per asset class (merge.AssetClass): its definition of identified, counts, and its gap reasons
    by frequency (reasons without the per-asset hours, so that alike assets count together). Controllers are
    the OT assets of that class; PCs and network devices every asset of those roles, OT or not."""
    out = []
    for cls in merge.AssetClass:
        members = [x for x in top if x.summary.asset_class is cls and
                   (cls is not merge.AssetClass.CONTROLLER or merge.is_ot(x.summary))]
        reasons: dict[tuple[str, str], int] = defaultdict(int)
        for x in members:
            if not x.summary.identified:
                reason, action = _gap(x)
                reasons[(_HOURS.sub("", reason), action)] += 1
        title, definition = merge.CLASS_DEFINITIONS[cls]
        n, ok = len(members), sum(1 for x in members if x.summary.identified)
        out.append({"asset_class": cls.value, "title": title, "definition": definition, "assets": n,
                    "identified": ok, "coverage": _share(ok, n),
                    "gaps": [{"reason": r, "action": a, "assets": k} for (r, a), k in
                             sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CLASS_GAPS]]})
    return out


_HOURS = re.compile(r" (?:after|in) [\d.]+ h of traffic")


def anomalies(s: Session) -> list[dict[str, Any]]:
    return [{"sensor": a.sensor, "protocol": a.protocol, "kind": a.kind, "count": a.count,
             "first_evidence": a.first_evidence}
            for a in s.scalars(select(AnomalyStat).order_by(AnomalyStat.protocol, AnomalyStat.kind))]


def communications(s: Session, *, asset_id: int | None = None, protocol: str | None = None,
                   limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    q = select(Communication).order_by(Communication.id)
    if asset_id is not None:
        q = q.where((Communication.client_id == asset_id) | (Communication.server_id == asset_id))
    if protocol:
        q = q.where(Communication.protocol == protocol)
    if limit is not None:
        q = q.limit(limit).offset(offset)
    rows = list(s.scalars(q))
    ids = {c.client_id for c in rows} | {c.server_id for c in rows}
    addr: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(ids), 900):
        for aid, v in s.execute(select(Address.asset_id, Address.value).where(Address.kind == "ip",
                                                                              Address.asset_id.in_(chunk))):
            addr[aid].append(v)
    out = []
    for c in rows:
        out.append({"id": c.id, "client": c.client_id, "server": c.server_id,
                    "client_ips": sorted(addr.get(c.client_id, []), key=_ip_key),
                    "server_ips": sorted(addr.get(c.server_id, []), key=_ip_key),
                    "protocol": c.protocol, "transport": c.transport, "port": c.port, "packets": c.packets,
                    "bytes": c.bytes, "first_seen": iso(c.first_seen), "last_seen": iso(c.last_seen),
                    "profile": c.profile or {}})
    return out


# --- filtered search (API) ----------------------------------------------------------------------------------

def _like(text: str) -> str:
    """A LIKE pattern for a user's text: wildcards in it are literal."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_assets(s: Session, *, role: str | None = None, vendor: str | None = None, protocol: str | None = None,
                  subnet: str | None = None, vlan: int | None = None, identified: bool | None = None,
                  q: str | None = None, parent: int | None = None, limit: int = 50, offset: int = 0,
                  with_facts: bool = True, ids: Sequence[int] | None = None,
                  vulnerable: bool | None = None) -> tuple[list[dict[str, Any]], int]:
    """Assets matching every given filter, paginated; all values are bound parameters, never SQL text.
    ``ids``: only these assets (the result of an in-memory text search, collector/search.py); ``vulnerable``: with
    (True) or without (False) an advisory they are affected by (collector/advisories/store.py)."""
    from sqlalchemy import exists, or_

    from otscope.collector.models import VulnerabilityMatch

    cond = []
    if ids is not None:
        if not ids:
            return [], 0
        if not any((role, vendor, protocol, subnet, vlan is not None, identified is not None, q, parent,
                    vulnerable is not None)):
            page = list(ids[offset:offset + limit])          # the search alone: page it without a query
            return [asset_dict(b, with_facts=with_facts) for b in load_bundles(s, page)], len(ids)
        cond.append(Asset.id.in_(list(ids)))
    if role:
        cond.append(Asset.role == role)
    if vendor:
        cond.append(Asset.vendor.ilike(_like(vendor), escape="\\"))
    if identified is not None:
        cond.append(Asset.identified.is_(identified))
    if parent is not None:
        cond.append(Asset.parent_id == parent)
    if vulnerable is not None:
        hit = exists().where(VulnerabilityMatch.asset_id == Asset.id, VulnerabilityMatch.status == "affected")
        cond.append(hit if vulnerable else ~hit)
    if protocol:
        cond.append(exists().where(Fact.asset_id == Asset.id, Fact.field == "protocol", Fact.value == protocol))
    if vlan is not None:
        cond.append(exists().where(Address.asset_id == Asset.id, Address.vlan == vlan))
    if subnet:
        net = ipaddress.ip_network(subnet, strict=False)
        ids = [aid for aid, v in s.execute(select(Address.asset_id, Address.value).where(Address.kind == "ip"))
               if _in_net(v, net)]
        cond.append(Asset.id.in_(ids or [-1]))
    if q:
        pat = _like(q)
        cond.append(or_(*(col.ilike(pat, escape="\\") for col in (Asset.vendor, Asset.product, Asset.name,
                                                                   Asset.order_number, Asset.serial, Asset.firmware,
                                                                   Asset.role)),
                        exists().where(Address.asset_id == Asset.id, Address.value.ilike(pat, escape="\\"))))
    # one scan for the page and the total (a window count); a page past the end asks for the total alone
    rows = s.execute(select(Asset.id, func.count().over()).where(*cond).order_by(Asset.id).limit(limit)
                     .offset(offset)).all()
    ids = [aid for aid, _n in rows]
    if rows:
        total = rows[0][1]
    else:
        total = s.scalar(select(func.count()).select_from(select(Asset.id).where(*cond).subquery())) or 0
    return [asset_dict(b, with_facts=with_facts) for b in load_bundles(s, ids)], total


def _in_net(value: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(value) in net
    except ValueError:
        return False


def comms_of(s: Session, asset_id: int) -> list[dict[str, Any]]:
    return [c for c in communications(s, asset_id=asset_id)]


def inventory_version(s: Session) -> tuple[int, int]:
    """Changes whenever a batch is applied: a cheap key for caching derived reports."""
    from otscope.collector.models import AppliedBatch

    return tuple(s.execute(select(func.count(AppliedBatch.id), func.coalesce(func.max(AppliedBatch.id), 0))).one())  # type: ignore[return-value]
