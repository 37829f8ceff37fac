"""The passive OS hint (dissectors/oshint): the first frame from each side of a flow gives its sender's TTL,
and when it is a SYN or SYN-ACK its window and TCP options. Every such frame is a sighting of the hint (its
facts' first and last seen), as for any fact, so workers sharding conversations report what one does.

The C fast path reports a light flow's first frames once per (host, MAC, TTL, SYN layout) per snapshot
(FirstFrame, with its ``hint`` key) and keeps the last time of each (``first_times()``): ``fold`` moves the
facts' last seen there before the snapshot, so both backends report the same times."""

from __future__ import annotations

from otscope.agent.hosts import IpNames, IPAddr
from otscope.contract import Subject
from otscope.dissectors.oshint import SPEC
from otscope.dissectors.oshint.rules import fingerprint, os_family, parse_syn

MAX_CACHE = 4096              # parsed (ttl, SYN bytes, ack) kept (emptied when full)
MAX_LIGHT = 1 << 16           # light-flow hint keys kept for first_times() until the snapshot


class OsHints:
    def __init__(self, acc, names: IpNames) -> None:  # type: ignore[no-untyped-def]
        self.acc = acc
        self.names = names
        self.protocol = SPEC.name.value
        self.cache: dict[tuple, tuple[tuple[str, str, str], ...]] = {}
        self.light: dict[tuple, tuple[Subject, tuple[tuple[str, str, str], ...], int]] = {}

    def _facts(self, ttl: int, syn: bytes | None, ack: int) -> tuple[tuple[str, str, str], ...]:
        key = (ttl, syn, bool(ack))
        got = self.cache.get(key)
        if got is None:
            parsed = parse_syn(syn) if syn is not None else None
            family = os_family(ttl, parsed)
            message = ("TCP SYN-ACK" if ack else "TCP SYN") if parsed is not None else "IP TTL"
            out = []
            if parsed is not None:
                out.append(("tcp_fingerprint", fingerprint(ttl, parsed), message))
            if family is not None:
                out.append(("os_family", family, message))
            if len(self.cache) >= MAX_CACHE:
                self.cache.clear()
            got = self.cache[key] = tuple(out)
        return got

    def first_frame(self, vlan: int, ip: IPAddr, ttl: int, syn: bytes | None, ack: int, frame: int, ts: float,
                    hint: int | None = None) -> None:
        """A host's first frame in a flow (``hint``: C's key for a light flow's, see first_times)."""
        facts = self._facts(ttl, syn, ack)
        if not facts:
            return
        subj = Subject(vlan, self.names(ip), None, None)
        for field, value, message in facts:
            self.acc.fact(subj, field, value, self.protocol, message, frame, ts)
        if hint is not None:
            if len(self.light) >= MAX_LIGHT:
                self.light.clear()
            self.light[(vlan, ip, ttl, hint)] = (subj, facts, frame)

    def fold(self, first_times: list) -> None:  # type: ignore[type-arg]
        """Before a snapshot: the last time of each light-flow first frame C reported once (``first_times()``)."""
        for vlan, ip, ttl, hint, last in first_times:
            ent = self.light.get((vlan, ip, ttl, hint))
            if ent is not None:
                subj, facts, frame = ent
                for field, value, message in facts:
                    self.acc.fact(subj, field, value, self.protocol, message, frame, last)
        self.light.clear()
