"""Suppression cache: what the sensor has seen since its last batch, deduplicated.

A fact seen a million times leaves the sensor once per batch, with its first and last time and the
evidence (file and frame, or sensor and time) of its first sighting. After a batch is cut the cache is
cleared, so memory is bounded by what one batch interval can hold (and a cap forces an early cut).
"""

from __future__ import annotations

from otscope.contract import AnomalyObs, BindingObs, Evidence, FactObs, Subject

MAX_PENDING = 100_000


class Accumulator:
    __slots__ = ("source", "frame_evidence", "facts", "bindings", "anomalies")

    def __init__(self, source: str, frame_evidence: bool = True) -> None:
        self.source = source
        self.frame_evidence = frame_evidence
        self.facts: dict[tuple, list] = {}
        self.bindings: dict[tuple, list] = {}
        self.anomalies: dict[tuple[str, str], list] = {}

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
        return len(self.facts) + len(self.bindings) > MAX_PENDING

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
