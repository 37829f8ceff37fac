"""What a pipeline has observed since its last batch, in a form that several pipelines can merge.

`otscope replay --workers N` runs N pipelines, each on its share of the flows (by a symmetric hash of the
endpoints); their snapshots are merged here and turned into one batch, exactly as one pipeline would have
produced it. Decisions that need the whole picture (a MAC used by one IP only: the medium-confidence binding
rule) are taken in `build_batch`, after the merge, never inside a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from otscope.contract import (ActionObs, AnomalyObs, Batch, BindingObs, CommObs, Evidence, FactObs, HostObs, Subject,
                              TrafficObs)



NOT_DECODED = "not decoded: "          # snapshot stats keys: frames per link type / reason nothing decoded
TUNNEL = "tunnel: "                    # ... and packets unwrapped per tunnel kind (agent/decap.py)

@dataclass
class Snapshot:
    source: str
    frame_evidence: bool
    facts: dict[tuple, list] = field(default_factory=dict)       # (subject, field, value, protocol) -> [first, last, evidence, message]
    bindings: dict[tuple, list] = field(default_factory=dict)    # (vlan, ip, mac, confidence) -> [first, last, evidence, protocol]
    anomalies: dict[tuple, list] = field(default_factory=dict)   # (protocol, kind) -> [count, evidence]
    hosts: dict[tuple, list] = field(default_factory=dict)       # (vlan, ip) -> [first, last, sent, {mac: initial ttl}, bcast]
    mac_ips: dict[tuple, set] = field(default_factory=dict)      # (vlan, mac) -> {ip}
    l2hosts: dict[tuple, list] = field(default_factory=dict)     # (vlan, mac) -> [first, last]
    comms: dict[tuple, list] = field(default_factory=dict)       # (vlan, cip, sip, transport, port, proto) -> [pk, bytes, first, last, profile]
    traffic: dict[str, list] = field(default_factory=dict)       # label -> [packets, seen, decoded]
    stats: dict[str, int] = field(default_factory=dict)
    actions: dict[tuple, list] = field(default_factory=dict)     # (server, client, field, value, protocol) -> [first, last, evidence, message, count]


def _first_last(into: list, other: list) -> None:
    """[first, last, evidence, extra]: keep the earliest sighting's evidence, the latest time."""
    if other[0] < into[0]:
        into[0], into[2], into[3] = other[0], other[2], other[3]
    if other[1] > into[1]:
        into[1] = other[1]


def merge(snaps: list[Snapshot]) -> Snapshot:
    out = Snapshot(snaps[0].source, snaps[0].frame_evidence)
    for s in snaps:
        for k, v in s.facts.items():
            if k in out.facts:
                _first_last(out.facts[k], v)
            else:
                out.facts[k] = list(v)
        for k, v in s.bindings.items():
            if k in out.bindings:
                _first_last(out.bindings[k], v)
            else:
                out.bindings[k] = list(v)
        for k, v in s.anomalies.items():
            cur = out.anomalies.get(k)
            if cur is None:
                out.anomalies[k] = list(v)
            else:
                cur[0] += v[0]
                if (v[1].ts, v[1].frame or 0) < (cur[1].ts, cur[1].frame or 0):
                    cur[1] = v[1]
        for k, v in s.actions.items():
            cur = out.actions.get(k)
            if cur is None:
                out.actions[k] = list(v)
            else:
                _first_last(cur, v)
                cur[4] += v[4]
        for k, v in s.hosts.items():
            cur = out.hosts.get(k)
            if cur is None:
                out.hosts[k] = [v[0], v[1], v[2], dict(v[3]), v[4]]
                continue
            cur[0], cur[1], cur[2] = min(cur[0], v[0]), max(cur[1], v[1]), cur[2] or v[2]
            for mac, initial in v[3].items():
                cur[3][mac] = cur[3].get(mac, False) or initial
        for k, ips in s.mac_ips.items():
            out.mac_ips.setdefault(k, set()).update(ips)
        for k, v in s.l2hosts.items():
            cur = out.l2hosts.get(k)
            out.l2hosts[k] = list(v) if cur is None else [min(cur[0], v[0]), max(cur[1], v[1])]
        for k, v in s.comms.items():
            cur = out.comms.get(k)
            if cur is None:
                out.comms[k] = [v[0], v[1], v[2], v[3], dict(v[4])]
                continue
            cur[0] += v[0]
            cur[1] += v[1]
            cur[2], cur[3] = min(cur[2], v[2]), max(cur[3], v[3])
            for pk, pv in v[4].items():
                cur[4][pk] = cur[4].get(pk, 0) + pv
        for k, v in s.traffic.items():
            cur = out.traffic.setdefault(k, [0, 0, 0])
            for i in range(3):
                cur[i] += v[i]
        for k, v in s.stats.items():
            # every worker reads every frame: frames and bytes read are the same in each, the rest adds up
            out.stats[k] = max(out.stats.get(k, 0), v) if k in ("packets", "bytes") else out.stats.get(k, 0) + v
    return out


def build_batch(snap: Snapshot, sensor: str, batch_id: str) -> Batch:
    b = Batch(sensor=sensor, batch_id=batch_id)
    b.facts = [FactObs(subject=s, field=f, value=v, protocol=p, message=e[3], evidence=e[2], first_seen=e[0],
                       last_seen=e[1]) for (s, f, v, p), e in snap.facts.items()]
    b.bindings = [BindingObs(vlan=vl, ip=ip, mac=mac, confidence=c, protocol=e[3], evidence=e[2], first_seen=e[0],
                             last_seen=e[1]) for (vl, ip, mac, c), e in snap.bindings.items()]
    b.actions = [ActionObs(server=sv, client=cl, field=f, action=v, protocol=p, message=e[3], evidence=e[2],
                           count=e[4], first_seen=e[0], last_seen=e[1]) for (sv, cl, f, v, p), e in snap.actions.items()]
    b.anomalies = [AnomalyObs(protocol=p, kind=k, count=e[0], evidence=e[1]) for (p, k), e in snap.anomalies.items()]
    for (vlan, ip), (first, last, sent, macs, bcast) in snap.hosts.items():
        if not sent and bcast:
            continue                                     # a directed broadcast that never speaks
        b.hosts.append(HostObs(Subject(vlan, ip), sent, first, last))
        if sent and len(macs) == 1:
            (mac, initial), = macs.items()
            # medium confidence: one MAC, an initial TTL, and no other IP seen from that MAC
            if initial and len(snap.mac_ips.get((vlan, mac), ())) == 1:
                ev = Evidence(snap.source, 0 if snap.frame_evidence else None, first)
                b.bindings.append(BindingObs(vlan, ip, mac, "medium", "ip", ev, first, last))
    b.hosts.extend(HostObs(Subject(vlan, None, mac), True, f, l) for (vlan, mac), (f, l) in snap.l2hosts.items())
    b.comms = [CommObs(Subject(vlan, cip), Subject(vlan, sip), transport, port, proto, pk, by, first, last, prof)
               for (vlan, cip, sip, transport, port, proto), (pk, by, first, last, prof) in snap.comms.items()]
    b.traffic = [TrafficObs(label, pk, seen, dec) for label, (pk, seen, dec) in snap.traffic.items()]
    b.stats = dict(snap.stats)
    return b
