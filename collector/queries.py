"""Read side: the inventory as plain dicts (the output contract of `otscope assets` and the API)."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
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
    return {"field": f.field, "value": f.value, "protocol": f.protocol, "message": f.message,
            "evidence": f.evidence, "sensor": f.sensor, "first_seen": iso(f.first_seen), "last_seen": iso(f.last_seen)}


def asset_dict(b: AssetBundle, *, with_facts: bool = True) -> dict[str, Any]:
    a = b.asset
    ips = sorted({ad.value for ad in b.addresses if ad.kind == "ip"}, key=_ip_key)
    macs = sorted({ad.value for ad in b.addresses if ad.kind == "mac"})
    vlans = sorted({ad.vlan for ad in b.addresses})
    protocols = sorted({f.value for f in b.facts if f.field == "protocol"})
    facts = sorted(b.facts, key=lambda f: (f.field, f.value, f.protocol))
    conflicts = _conflicts(facts)
    out: dict[str, Any] = {
        "id": a.id, "parent": a.parent_id, "component": a.component, "children": b.children,
        "ips": ips, "macs": macs, "vlans": vlans, "role": a.role, "vendor": a.vendor, "product": a.product,
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

def _summary_of(b: AssetBundle) -> merge.Summary:
    a = b.asset
    s = merge.Summary(vendor=a.vendor, product=a.product, order_number=a.order_number, firmware=a.firmware,
                      serial=a.serial, name=a.name, mac_vendor=a.mac_vendor, role=Role(a.role))
    s.protocols = sorted({f.value for f in b.facts if f.field == "protocol"})
    return s


def _subnet(b: AssetBundle) -> str:
    for ad in b.addresses:
        if ad.kind == "ip":
            try:
                net = ipaddress.ip_network(f"{ad.value}/{24 if ':' not in ad.value else 64}", strict=False)
                return str(net)
            except ValueError:
                continue
    return "layer-2 only"


def _share(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def coverage(s: Session, *, target: float = ASSET_TARGET, traffic_target: float = TRAFFIC_TARGET) -> dict[str, Any]:
    bundles = load_bundles(s)
    ot: list[tuple[AssetBundle, merge.Summary]] = []
    for b in bundles:
        summ = _summary_of(b)
        if merge.is_ot(summ):
            ot.append((b, summ))
    total = len(ot)
    identified = sum(1 for _, sm in ot if sm.identified)
    fields = {
        "vendor": _share(sum(1 for _, sm in ot if sm.vendor), total),
        "product": _share(sum(1 for _, sm in ot if sm.product or sm.order_number), total),
        "firmware": _share(sum(1 for _, sm in ot if sm.firmware), total),
    }
    groups: dict[str, dict[str, list[int]]] = {"subnet": defaultdict(lambda: [0, 0]), "vlan": defaultdict(lambda: [0, 0])}
    for b, sm in ot:
        for kind, key in (("subnet", _subnet(b)), ("vlan", str(min((ad.vlan for ad in b.addresses), default=0)))):
            g = groups[kind][key]
            g[0] += 1
            g[1] += int(sm.identified)
    seen, decoded, packets = s.execute(select(func.coalesce(func.sum(TrafficStat.bytes_seen), 0),
                                              func.coalesce(func.sum(TrafficStat.bytes_decoded), 0),
                                              func.coalesce(func.sum(TrafficStat.packets), 0))).one()
    per_proto = [{"protocol": p, "bytes_seen": bs, "bytes_decoded": bd, "share": _share(bd, bs)}
                 for p, bs, bd in s.execute(select(TrafficStat.protocol, func.sum(TrafficStat.bytes_seen),
                                                   func.sum(TrafficStat.bytes_decoded))
                                            .group_by(TrafficStat.protocol).order_by(TrafficStat.protocol))]
    gaps = []
    for b, sm in ot:
        if sm.identified:
            continue
        a = b.asset
        servers = [p for p in sm.protocols if p.endswith("-server")]
        encrypted = any(f.field == "encrypted" for f in b.facts)
        reason, action = merge.gap_reason(merge.GapInput(
            a.id, sm, a.sent, a.last_seen - a.first_seen, encrypted,
            is_client_only=not servers and any(p.endswith("-client") for p in sm.protocols)))
        gaps.append({"asset": a.id, "ips": sorted({ad.value for ad in b.addresses if ad.kind == "ip"}, key=_ip_key),
                     "role": a.role, "name": a.name, "missing": sm.missing(), "reason": reason, "action": action})
    asset_cov = _share(identified, total)
    traffic_share = _share(int(decoded), int(seen))
    return {
        "target": target, "assets_total": total, "assets_identified": identified, "asset_coverage": asset_cov,
        "pass": asset_cov >= target if total else False,
        "fields": fields,
        "by_subnet": [{"subnet": k, "assets": v[0], "identified": v[1], "coverage": _share(v[1], v[0])}
                      for k, v in sorted(groups["subnet"].items())],
        "by_vlan": [{"vlan": int(k), "assets": v[0], "identified": v[1], "coverage": _share(v[1], v[0])}
                    for k, v in sorted(groups["vlan"].items(), key=lambda kv: int(kv[0]))],
        "traffic": {"ot_bytes": int(seen), "ot_bytes_decoded": int(decoded), "ot_packets": int(packets),
                    "share": traffic_share, "target": traffic_target,
                    "pass": traffic_share >= traffic_target if seen else False, "by_protocol": per_proto},
        "gaps": gaps,
    }


def anomalies(s: Session) -> list[dict[str, Any]]:
    return [{"sensor": a.sensor, "protocol": a.protocol, "kind": a.kind, "count": a.count,
             "first_evidence": a.first_evidence}
            for a in s.scalars(select(AnomalyStat).order_by(AnomalyStat.protocol, AnomalyStat.kind))]


def communications(s: Session) -> list[dict[str, Any]]:
    addr: dict[int, list[str]] = defaultdict(list)
    for aid, v in s.execute(select(Address.asset_id, Address.value).where(Address.kind == "ip")):
        addr[aid].append(v)
    out = []
    for c in s.scalars(select(Communication).order_by(Communication.id)):
        out.append({"id": c.id, "client": c.client_id, "server": c.server_id,
                    "client_ips": sorted(addr.get(c.client_id, []), key=_ip_key),
                    "server_ips": sorted(addr.get(c.server_id, []), key=_ip_key),
                    "protocol": c.protocol, "transport": c.transport, "port": c.port, "packets": c.packets,
                    "bytes": c.bytes, "first_seen": iso(c.first_seen), "last_seen": iso(c.last_seen),
                    "profile": c.profile or {}})
    return out
