"""Flows: bidirectional state, direction, capped in-order TCP reassembly.

The flow table (flowtable.py) keeps these; the dissector host (dissector_host.py) feeds a packet of a known
flow whose TCP sequence number is the one expected to its dissector directly. Everything else (a
retransmission, a segment that arrives early) comes here.
"""

from __future__ import annotations

from otscope.dissectors import registry
from otscope.dissectors.base import FATAL, Dissector

# ports a server listens on; decides direction when the handshake was not captured (dissectors/registry.py)
SERVER_PORTS = registry.server_ports()
HINT_ONLY_PORTS = registry.hint_only_ports()     # never turn a flow towards them (FlowEntry.direction)

# ports of industrial protocols: payload on these counts as OT traffic for the coverage report
OT_PORTS: dict[int, str] = registry.ot_ports()

# Flow.counts: each counter at its index + side (0 client -> server, 1 back)
PK = 0                       # packets
BY = 2                       # frame bytes
PL = 4                       # payload bytes
DK = 6                       # last IPv4 id + checksum (SPAN duplicate check; -2 none yet, -1 IPv6)
HELD = 8                     # packets not in PK while that side's first source MAC was a group address

MAX_OOO_SEGMENTS = 16        # early segments kept per direction while waiting for a gap to fill
MAX_OOO_BYTES = 64 * 1024


class Flow:
    """One bidirectional conversation. Side 0 is client -> server."""

    __slots__ = ("key", "vlan", "transport", "cip", "sip", "cport", "sport", "counts", "first", "last",
                 "nseq", "diss", "proto", "ooo", "fin", "ot", "rep_pk", "rep_by", "rep_pl", "rep_dec",
                 "first_frame", "decoded_extra", "detached", "fid", "seq", "peek")

    def __init__(self, key: tuple, vlan: int, transport: str, cip: bytes, sip: bytes, cport: int, sport: int,
                 ts: float, frame: int) -> None:
        self.key = key
        self.vlan = vlan
        self.transport = transport
        self.cip = cip
        self.sip = sip
        self.cport = cport
        self.sport = sport
        # counters by side, at PK/BY/PL/DK/HELD + side (one list: one object per flow for the capture loop to
        # reach); the C fast path counts its own (flowtable.CFlowTable)
        self.counts = [0, 0, 0, 0, 0, 0, -2, -2, 0, 0]
        self.first = ts
        self.last = ts
        self.nseq: list[int | None] = [None, None]
        self.diss: Dissector | None = None
        self.proto = ""
        # early segments per side: seq -> (payload, frame, ts) of the packet that carried them
        self.ooo: list[dict[int, tuple[bytes, int, float]]] | None = None
        self.fin = 0
        self.ot = sport in OT_PORTS
        self.rep_pk = 0          # what was already reported to the collector (deltas)
        self.rep_by = 0
        self.rep_pl = 0
        self.rep_dec = 0
        self.first_frame = frame
        self.decoded_extra = 0   # decoded bytes of dissectors that were detached or replaced
        self.detached = ""
        self.fid = -1            # id in the C fast path's table, when that is in use
        self.seq = 0             # creation number there (eviction compares it with light flows')
        self.peek: list[int] | None = None   # payload bytes per side its dissector may still be handed (FlowEntry.peek)


def orient(sport: int, dport: int, syn_only: bool, synack: bool) -> bool:
    """True when the sender of this first packet is the client. Handshake first, then well-known port,
    then 'the first packet's sender'."""
    if syn_only:
        return True
    if synack:
        return False
    d_srv = dport in SERVER_PORTS
    s_srv = sport in SERVER_PORTS
    if d_srv != s_srv:
        return d_srv
    if d_srv and s_srv:
        return dport <= sport
    if (dport < 1024) != (sport < 1024):
        return dport < 1024
    return True


def tcp_unordered(fl: Flow, side: int, seq: int, payload: bytes, ts: float, frame: int) -> tuple[int, int]:
    """A data segment whose sequence number is not the expected one.

    Returns (status, fed_bytes). Old data (retransmission) is trimmed or dropped; early data is kept
    (capped) until the gap fills; when the cap is reached the gap is declared lost, the dissector resyncs.
    """
    diss = fl.diss
    assert diss is not None
    nseq = fl.nseq
    exp = nseq[side]
    if exp is None:                                   # first data in this direction, no handshake seen
        nseq[side] = (seq + len(payload)) & 0xFFFFFFFF
        return diss.feed(payload, side, ts, frame), len(payload)
    delta = (seq - exp) & 0xFFFFFFFF
    if delta >= 0x80000000:                           # starts before what we have: retransmission / overlap
        behind = 0x100000000 - delta
        if behind >= len(payload):
            return 0, 0
        payload = payload[behind:]
        seq = exp
        delta = 0
    if delta == 0:
        nseq[side] = (seq + len(payload)) & 0xFFFFFFFF
        status = diss.feed(payload, side, ts, frame)
        fed = len(payload)
        if status != FATAL and fl.ooo is not None:
            status, more = _drain(fl, side)
            fed += more
        return status, fed
    # early segment: keep it while within caps
    if fl.ooo is None:
        fl.ooo = [{}, {}]
    pend = fl.ooo[side]
    if len(pend) < MAX_OOO_SEGMENTS and sum(len(p[0]) for p in pend.values()) + len(payload) <= MAX_OOO_BYTES:
        pend[seq] = (payload, frame, ts)
        return 0, 0
    # caps reached: the missing bytes are not coming; skip to the earliest kept segment
    diss.gap(side)
    diss.anomaly("tcp-gap", frame, ts)
    pend[seq] = (payload, frame, ts)
    nseq[side] = min(pend, key=lambda s: (s - exp) & 0xFFFFFFFF)
    return _drain(fl, side)


def _drain(fl: Flow, side: int) -> tuple[int, int]:
    """Feed the kept early segments that now follow on, each with its own frame and time."""
    assert fl.ooo is not None and fl.diss is not None
    pend = fl.ooo[side]
    fed = 0
    status = 0
    while pend:
        exp = fl.nseq[side]
        seg = pend.pop(exp, None)  # type: ignore[arg-type]
        if seg is None:
            # drop segments entirely behind the expected point
            stale = [s for s in pend if ((s - exp) & 0xFFFFFFFF) >= 0x80000000]  # type: ignore[operator]
            for s in stale:
                del pend[s]
            if not stale:
                break
            continue
        data, seg_frame, seg_ts = seg
        fl.nseq[side] = (exp + len(data)) & 0xFFFFFFFF  # type: ignore[operator]
        # fed with the frame that carried it: what it holds (a control action, an identity) was on that frame
        status = fl.diss.feed(data, side, seg_ts, seg_frame)
        fed += len(data)
        if status == FATAL:
            break
    if not fl.ooo[0] and not fl.ooo[1]:
        fl.ooo = None                                 # nothing waits any more: back to the in-order path
    return status, fed
