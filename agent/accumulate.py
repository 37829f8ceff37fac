"""The accumulators: what the sensor has seen since its last batch, deduplicated.

``Accumulator`` is the suppression cache of facts, bindings and anomalies; ``TrafficAccumulator`` sums
conversations and OT traffic from the flow table's folded totals.

A fact seen a million times leaves the sensor once per batch, with its first and last time and the
evidence (file and frame, or sensor and time) of its first sighting. After a batch is cut the cache is
cleared, so memory is bounded by what one batch interval can hold (and a cap forces an early cut).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.agent.decode import PROTO_TCP
from otscope.agent.flows import OT_PORTS
from otscope.agent.hosts import is_directed_broadcast, is_host_ip
from otscope.contract import AnomalyObs, BindingObs, Evidence, FactObs, Subject
from otscope.dissectors.registry import ot_label_prefixes

if TYPE_CHECKING:
    from otscope.agent.flowtable import FlowTotals
    LightTotals = object      # agent/_fastscan.c's LightTotals (vlan, cip, sip, proto, sport, packets, bytes, ...)

MAX_PENDING = 100_000
OT_LABELS = ot_label_prefixes()     # a confirmed label counts as OT traffic only when an OT spec's (not HTTP's)


class Accumulator:
    __slots__ = ("source", "frame_evidence", "facts", "bindings", "anomalies", "actions")

    def __init__(self, source: str, frame_evidence: bool = True) -> None:
        self.source = source
        self.frame_evidence = frame_evidence
        self.facts: dict[tuple, list] = {}
        self.bindings: dict[tuple, list] = {}
        self.anomalies: dict[tuple[str, str], list] = {}
        self.actions: dict[tuple, list] = {}

    def evidence(self, frame: int, ts: float) -> Evidence:
        return Evidence(self.source, frame if self.frame_evidence else None, ts)

    def fact(self, subject: Subject, field: str, value: str, protocol: str, message: str,
             frame: int, ts: float) -> None:
        key = (subject, field, value, protocol)
        ent = self.facts.get(key)
        if ent is None:
            self.facts[key] = [ts, ts, self.evidence(frame, ts), message]
        elif ts > ent[1]:
            ent[1] = ts
        elif ts < ent[0]:               # heard out of capture order (peek memo counts): the earliest is the first
            ent[0] = ts
            ent[2] = self.evidence(frame, ts)
            ent[3] = message

    def action(self, server: Subject, client: Subject, field: str, value: str, protocol: str, message: str,
               frame: int, ts: float) -> None:
        """An action fact (contract.ACTION_FIELDS) with the flow's other end: counted, first evidence kept."""
        key = (server, client, field, value, protocol)
        ent = self.actions.get(key)
        if ent is None:
            self.actions[key] = [ts, ts, self.evidence(frame, ts), message, 1]
        else:
            ent[4] += 1
            if ts > ent[1]:
                ent[1] = ts

    def binding(self, vlan: int, ip: str, mac: str, confidence: str, protocol: str, frame: int, ts: float) -> None:
        key = (vlan, ip, mac, confidence)
        ent = self.bindings.get(key)
        if ent is None:
            self.bindings[key] = [ts, ts, self.evidence(frame, ts), protocol]
        elif ts > ent[1]:
            ent[1] = ts

    def anomaly(self, protocol: str, kind: str, frame: int, ts: float, n: int = 1) -> None:
        key = (protocol, kind)
        ent = self.anomalies.get(key)
        if ent is None:
            self.anomalies[key] = [n, self.evidence(frame, ts)]
        else:
            ent[0] += n

    def full(self) -> bool:
        return len(self.facts) + len(self.bindings) + len(self.actions) > MAX_PENDING

    def drain(self) -> tuple[list[FactObs], list[BindingObs], list[AnomalyObs]]:
        facts = [FactObs(subject=s, field=f, value=v, protocol=p, message=e[3], evidence=e[2],
                         first_seen=e[0], last_seen=e[1]) for (s, f, v, p), e in self.facts.items()]
        binds = [BindingObs(vlan=vl, ip=ip, mac=mac, confidence=c, protocol=e[3], evidence=e[2],
                            first_seen=e[0], last_seen=e[1]) for (vl, ip, mac, c), e in self.bindings.items()]
        anoms = [AnomalyObs(protocol=p, kind=k, count=e[0], evidence=e[1]) for (p, k), e in self.anomalies.items()]
        self.facts.clear()
        self.bindings.clear()
        self.anomalies.clear()
        return facts, binds, anoms


class TrafficAccumulator:
    """Conversations and per-protocol traffic since the last batch, from folded flow totals.

    A Python flow's ``FlowTotals`` and a light flow's ``LightTotals`` (agent/_fastscan.c) both end here:
    packets and bytes per (vlan, client, server, transport, server port, protocol), first and last time, the
    dissector's profile counters; and OT traffic (packets, payload, decoded bytes) per protocol label.
    """

    __slots__ = ("comms", "traffic")

    def __init__(self) -> None:
        self.comms: dict[tuple, list] = {}
        self.traffic: dict[str, list[int]] = {}

    def add_flow(self, t: FlowTotals) -> bool:
        """A Python flow's new totals (packets > 0); True when a conversation took its profile."""
        if t.ot or (t.label and t.label.startswith(OT_LABELS)):
            label = t.label or OT_PORTS.get(t.sport, f"{t.transport}/{t.sport}")
            tr = self.traffic.setdefault(label, [0, 0, 0])
            tr[0] += t.packets
            tr[1] += t.payload
            tr[2] += min(t.decoded, t.payload) if t.decoded > 0 else 0
        if not (is_host_ip(t.cip) and is_host_ip(t.sip)) or is_directed_broadcast(t.sip):
            return False                             # broadcast/multicast "peers" are not assets
        proto = t.label or f"{t.transport}/{t.sport}"
        self._add_comm((t.vlan, t.cip, t.sip, t.transport, t.sport, proto), t.packets, t.bytes, t.first, t.last,
                       t.profile)
        return True

    def add_light(self, t: LightTotals, label: str = "") -> None:
        """A light flow's new totals (or one conversation's sum of them); ``label`` the IT protocol a peek
        confirmed on it (agent/peek.py: never an OT one, so it counts as no OT traffic)."""
        if not t.packets or not (is_host_ip(t.cip) and is_host_ip(t.sip)) or is_directed_broadcast(t.sip):
            return
        transport = "tcp" if t.proto == PROTO_TCP else "udp"
        self._add_comm((t.vlan, t.cip, t.sip, transport, t.sport, label or f"{transport}/{t.sport}"), t.packets,
                       t.bytes, t.first, t.last, {})

    def _add_comm(self, key: tuple, d_pk: int, d_by: int, first: float, last: float, profile: dict) -> None:
        ent = self.comms.get(key)
        if ent is None:
            self.comms[key] = [d_pk, d_by, first, last, dict(profile)]
        else:
            ent[0] += d_pk
            ent[1] += d_by
            ent[2] = min(ent[2], first)
            ent[3] = max(ent[3], last)
            for k, v in profile.items():
                ent[4][k] = ent[4].get(k, 0) + v

    def drain(self) -> tuple[dict[tuple, list], dict[str, list[int]]]:
        comms, traffic = self.comms, self.traffic
        self.comms, self.traffic = {}, {}
        return comms, traffic
