"""The passive OS hint (dissectors/oshint): the first frame from each side of a flow gives its sender's TTL,
and when it is a SYN or SYN-ACK its window and TCP options. Each distinct (host, TTL, SYN) gives its facts once
per snapshot (the C fast path reports a light flow's first frames once per host, TTL and SYN per snapshot too:
agent/_fastscan.c light_packet), so both backends report the same, at the same first frame."""

from __future__ import annotations

from otscope.agent.hosts import IpNames, IPAddr
from otscope.contract import Subject
from otscope.dissectors.oshint import SPEC
from otscope.dissectors.oshint.rules import fingerprint, os_family, parse_syn

MAX_HINTED = 1 << 16            # (host, ttl, syn) seen this snapshot (emptied when full: a repeat is harmless)


class OsHints:
    def __init__(self, acc, names: IpNames) -> None:  # type: ignore[no-untyped-def]
        self.acc = acc
        self.names = names
        self.seen: set[tuple] = set()
        self.protocol = SPEC.name.value

    def new_snapshot(self) -> None:
        self.seen.clear()

    def first_frame(self, vlan: int, ip: IPAddr, ttl: int, syn: bytes | None, ack: int, frame: int,
                    ts: float) -> None:
        key = (vlan, ip, ttl, syn, bool(ack) if syn is not None else False)
        if key in self.seen:
            return
        if len(self.seen) >= MAX_HINTED:
            self.seen.clear()
        self.seen.add(key)
        parsed = parse_syn(syn) if syn is not None else None
        family = os_family(ttl, parsed)
        if parsed is None and family is None:
            return
        subj = Subject(vlan, self.names(ip), None, None)
        message = ("TCP SYN-ACK" if ack else "TCP SYN") if parsed is not None else "IP TTL"
        if parsed is not None:
            self.acc.fact(subj, "tcp_fingerprint", fingerprint(ttl, parsed), self.protocol, message, frame, ts)
        if family is not None:
            self.acc.fact(subj, "os_family", family, self.protocol, message, frame, ts)
