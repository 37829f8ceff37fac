"""Frame-level (stateless) dissectors: every registered package with a frame parser (its spec's ``frames``).

These are rare next to flow traffic, so they are dispatched outside the hot loop: by ethertype, by LLC/SNAP
header for 802.3 length frames, or by UDP ports for datagrams, from tables built once from the registry. Each
grammar is pure (bytes -> dataclass) and raises Truncated/Malformed; here those become counted anomalies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from otscope.agent.accumulate import Accumulator
from otscope.contract import ACTION_FIELDS, Subject
from otscope.dissectors import registry
from otscope.dissectors.base import FrameAnomaly, L2Anomaly, L2Binding, L2Fact, L2Output, Malformed, Truncated
from otscope.domain import FrameEntry

MAX_L2_HOSTS = 100_000
MAX_MEMO = 4096                  # distinct frames remembered (ARP requests, LLDP adverts repeat byte for byte)
MAX_MEMO_FRAME = 1600

# What a frame led to, without its frame number and time: ("b", vlan, ip, mac, protocol) for a binding,
# ("f", subject, field, value, protocol, message) for a fact, ("a", protocol, kind) for an anomaly, and
# ("x", server, client, field, value, protocol, message) for an action (an action fact naming who asked).
Call = tuple


@dataclass(frozen=True, slots=True)
class FrameParser:
    """A spec's frame entry with its functions loaded (at start-up)."""

    protocol: str
    parse: Callable
    facts: Callable
    skip: int                           # bytes of the LLC/SNAP header before the protocol's own
    context: tuple[str, ...]
    accept: Callable | None
    memo_key: Callable | None           # None: the output depends on the whole frame
    counter: str | None = None          # module:Class counting frequent frames (FrameEntry.counter)


FRAME_CONTEXT = frozenset({"src", "dst"})        # what a frame parser's facts() may take: the frame's MACs
DATAGRAM_CONTEXT = frozenset({"src_ip"})         # ... and a datagram parser's: the sender's IP


def _parser(protocol: str, e: FrameEntry) -> FrameParser:
    allowed = DATAGRAM_CONTEXT if e.udp_ports else FRAME_CONTEXT
    if not set(e.context) <= allowed or (e.udp_ports and (e.ethertype is not None or e.llc_snap)):
        raise ValueError(f"{protocol}: frame entry context {e.context} (a frame takes {sorted(FRAME_CONTEXT)}, "
                         f"a datagram {sorted(DATAGRAM_CONTEXT)}; one entry is one or the other)")
    return FrameParser(protocol, _Lazy(e.parse), _Lazy(e.facts), len(e.llc_snap), e.context, e.accept,
                       _Lazy(e.memo_key) if e.memo_key else None, e.counter)


class _Lazy:
    """A spec's ``module:function``, imported on the first frame that needs it (a replay's start-up cost does
    not grow with protocols its capture does not carry)."""

    __slots__ = ("ref", "fn")

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.fn: Callable | None = None

    def __call__(self, *args: object) -> object:
        fn = self.fn
        if fn is None:
            fn = self.fn = registry.load(self.ref)
        return fn(*args)


class FrameTables:
    """Ethertype -> parser, ethertype -> [(FrameID low, high, parser)], [(LLC/SNAP header, parser)], UDP port
    -> parser: from the registry, once. An ethertype is dispatched either as a whole or by FrameID ranges
    (PROFINET 0x8892: pn_dcp owns 0xFEFC-0xFEFF, pnio the cyclic and alarm ranges), never both."""

    def __init__(self) -> None:
        self.ethertype: dict[int, FrameParser] = {}
        self.by_id: dict[int, tuple[tuple[int, int, FrameParser], ...]] = {}
        self.snap: list[tuple[bytes, FrameParser]] = []
        self.udp: dict[int, FrameParser] = {}
        ranges: dict[int, list[tuple[int, int, FrameParser]]] = {}
        for spec in registry.specs():
            for e in spec.frames:
                p = _parser(str(spec.name), e)
                if e.ethertype is not None and e.frame_ids:
                    ranges.setdefault(e.ethertype, []).extend((lo, hi, p) for lo, hi in e.frame_ids)
                elif e.ethertype is not None:
                    self.ethertype.setdefault(e.ethertype, p)
                if e.llc_snap:
                    self.snap.append((e.llc_snap, p))
                for port in e.udp_ports:
                    self.udp.setdefault(port, p)
        for et, rs in ranges.items():
            rs.sort(key=lambda r: r[0])
            for (lo, hi, p), (lo2, _hi2, q) in zip(rs, rs[1:]):
                if lo > hi or lo2 <= hi:
                    raise ValueError(f"ethertype 0x{et:04x}: FrameID ranges of {p.protocol} and {q.protocol} overlap")
            if et in self.ethertype:
                raise ValueError(f"ethertype 0x{et:04x}: {self.ethertype[et].protocol} takes it whole, others by "
                                 f"FrameID")
            self.by_id[et] = tuple(rs)

    def by_frame_id(self, et: int, fid: int) -> FrameParser | None:
        for lo, hi, p in self.by_id[et]:
            if lo <= fid <= hi:
                return p
        return None

    def for_frame(self, et: int, body: bytes) -> FrameParser | None:
        if et in self.by_id:
            if len(body) < 2:
                return None
            p = self.by_frame_id(et, body[0] << 8 | body[1])
        else:
            p = self.ethertype.get(et)
        if p is None and et <= 1500:                  # 802.3 length: the LLC/SNAP header names the protocol
            for head, q in self.snap:
                if body.startswith(head):
                    p = q
                    break
        if p is not None and p.accept is not None and not p.accept(body):
            return None
        return p


_TABLES: FrameTables | None = None


def tables() -> FrameTables:
    global _TABLES
    if _TABLES is None:
        _TABLES = FrameTables()
    return _TABLES


def udp_ports() -> set[int]:
    """UDP ports a frame parser claims (a datagram between two of its ports is its)."""
    return set(tables().udp)


class L2Dispatcher:
    def __init__(self, acc: Accumulator) -> None:
        self.acc = acc
        self.hosts: dict[tuple[int, str], list] = {}     # layer-2 senders: (vlan, mac) -> [first, last, dirty]
        # the grammars are pure: a frame seen before (same bytes, same VLAN) leads to the same calls again
        self.memo: dict[tuple[int, object], tuple[str | None, list[Call]]] = {}
        self.tables = tables()
        self.by_id = self.tables.by_id
        self.counters: dict[str, object] = {}            # FrameEntry.counter -> its instance (this loop's state)
        self.fast: object | None = None                   # the C table (pipeline): it counts watched frames itself

    def frame(self, et: int, buf: bytes, off: int, l3: int, stop: int, vlan: int, frame: int, ts: float) -> None:
        if et <= 1500 and l3 + et < stop:
            stop = l3 + et                  # 802.3 length: the octets after it are the frame's padding (3.2.6)
        if et in self.by_id and stop - l3 >= 2:
            parser = self.tables.by_frame_id(et, buf[l3] << 8 | buf[l3 + 1])
            if parser is not None and parser.counter is not None:    # frequent frames: counted, not memoised
                self._count(parser, et, buf, off, l3, stop, vlan, frame, ts)
                return
            if parser is not None and parser.accept is not None and not parser.accept(buf[l3:stop]):
                parser = None
        else:
            parser = self.tables.for_frame(et, buf[l3:stop])
        if parser is not None and parser.memo_key is not None:
            raw: object = parser.memo_key(buf[l3:stop])    # its output depends on part of the frame alone (ARP)
        else:
            raw = buf[off:stop] if stop - off <= MAX_MEMO_FRAME else None
        if raw is not None:
            hit = self.memo.get((vlan, raw))
            if hit is not None:
                sender, calls = hit
                if sender is not None:
                    self._sender(vlan, sender, ts)
                self._replay(calls, frame, ts)
                return
        src = buf[off + 6:off + 12].hex(":")
        calls = [] if parser is None else self._dissect(parser, buf, off, l3, stop, vlan, src)
        # a memo key that leaves out the Ethernet header (ARP) cannot say who sent the frame it stands for
        sender = None if parser is not None and parser.memo_key is not None else src
        if sender is not None:
            self._sender(vlan, sender, ts)
        if raw is not None:
            if len(self.memo) >= MAX_MEMO:
                self.memo.clear()
            self.memo[(vlan, raw)] = (sender, calls)
        self._replay(calls, frame, ts)

    def _count(self, p: FrameParser, et: int, buf: bytes, off: int, l3: int, stop: int, vlan: int, frame: int,
               ts: float) -> None:
        counter = self.counters.get(p.counter)  # type: ignore[arg-type]
        if counter is None:
            counter = self.counters[p.counter] = registry.load(p.counter)()  # type: ignore[index,arg-type]
        fid = buf[l3] << 8 | buf[l3 + 1]
        src, items = counter.frame(buf, off, l3, stop, vlan, fid, frame, ts)  # type: ignore[attr-defined]
        self._sender(vlan, src, ts)
        if items:
            self._replay(self._run(p.protocol, lambda: items, vlan), frame, ts)
        if self.fast is not None and stop - l3 >= 6:
            # the C fast path counts the next frames of this key itself while their status byte stays the same
            self.fast.l2_watch(vlan, et, fid, buf[off:off + 12], buf[stop - 2],  # type: ignore[attr-defined]
                               buf[stop - 4] << 8 | buf[stop - 3])

    def flush(self) -> int:
        """What the frame counters summarise (rates, cycle times) into the accumulator, before a snapshot, with
        the frames the C fast path counted for them; returns how many frames C counted."""
        counted = 0
        if self.fast is not None and self.counters:
            for vlan, et, fid, macs, n, last, cycle, step in self.fast.l2_drain():  # type: ignore[attr-defined]
                p = self.tables.by_frame_id(et, fid) if et in self.by_id else None
                counter = self.counters.get(p.counter) if p is not None and p.counter else None
                if counter is not None:
                    counter.absorb(vlan, fid, macs, n, last, cycle, step)  # type: ignore[attr-defined]
                    self._sender(vlan, macs[6:12].hex(":"), last)
                counted += n
        for ref, counter in self.counters.items():
            protocol = next(p.protocol for rs in self.by_id.values() for _lo, _hi, p in rs if p.counter == ref)
            for vlan, frame, ts, items in counter.flush():  # type: ignore[attr-defined]
                self._replay(self._run(protocol, lambda items=items: items, vlan), frame, ts)
        return counted

    def _dissect(self, p: FrameParser, buf: bytes, off: int, l3: int, stop: int, vlan: int, src: str) -> list[Call]:
        body = buf[l3 + p.skip:stop]
        ctx = [src if c == "src" else buf[off:off + 6].hex(":") for c in p.context]     # "src" / "dst" only
        return self._run(p.protocol, lambda: p.facts(p.parse(body), *ctx), vlan)

    def datagram(self, sport: int, dport: int, payload: bytes, src_ip: str, vlan: int, frame: int,
                 ts: float) -> bool:
        """A UDP datagram between two ports of one frame parser (DHCP 67/68): dissected; False if none claims it."""
        udp = self.tables.udp
        p = udp.get(sport)
        if p is None or udp.get(dport) is not p:
            return False
        ctx = [src_ip for _ in p.context]                                             # "src_ip" only
        self._replay(self._run(p.protocol, lambda: p.facts(p.parse(payload), *ctx), vlan), frame, ts)
        return True

    def _sender(self, vlan: int, mac: str, ts: float) -> None:
        ent = self.hosts.get((vlan, mac))
        if ent is None:
            if len(self.hosts) < MAX_L2_HOSTS:
                self.hosts[(vlan, mac)] = [ts, ts, True]
        elif ts > ent[1]:
            ent[1] = ts
            ent[2] = True

    @staticmethod
    def _run(protocol: str, parse: Callable[[], L2Output], vlan: int) -> list[Call]:
        """A frame's dissector output as accumulator calls; Truncated/Malformed become a counted anomaly."""
        try:
            items = parse()
        except (Truncated, Malformed) as exc:
            kind = FrameAnomaly.TRUNCATED if isinstance(exc, Truncated) else FrameAnomaly.MALFORMED
            return [("a", protocol, str(kind))]
        calls: list[Call] = []
        for item in items:
            if isinstance(item, L2Binding):
                calls.append(("b", vlan, item.ip, item.mac, protocol))
                calls.append(("f", Subject(vlan, item.ip, None), "protocol", protocol, protocol, item.message))
            elif isinstance(item, L2Fact):
                subject = Subject(vlan, item.ip, item.mac, item.component)
                calls.append(("f", subject, item.field, item.value, item.protocol or protocol, item.message))
                if item.client and item.field in ACTION_FIELDS:    # each occurrence, with who asked for it
                    calls.append(("x", subject, Subject(vlan, None, item.client), item.field, item.value,
                                  item.protocol or protocol, item.message))
            elif isinstance(item, L2Anomaly):
                calls.append(("a", protocol, item.kind))
        return calls

    def _replay(self, calls: list[Call], frame: int, ts: float) -> None:
        acc = self.acc
        for c in calls:
            if c[0] == "f":
                acc.fact(c[1], c[2], c[3], c[4], c[5], frame, ts)
            elif c[0] == "b":
                acc.binding(c[1], c[2], c[3], "high", c[4], frame, ts)
            elif c[0] == "x":
                acc.action(c[1], c[2], c[3], c[4], c[5], c[6], frame, ts)
            else:
                acc.anomaly(c[1], c[2], frame, ts)

    def drain_hosts(self) -> dict[tuple[int, str], list[float]]:
        """Layer-2 senders seen since the last call: (vlan, mac) -> [first, last]."""
        out = {}
        for key, ent in self.hosts.items():
            if ent[2]:
                ent[2] = False
                out[key] = [ent[0], ent[1]]
        return out
