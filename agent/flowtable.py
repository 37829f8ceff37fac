"""The flow table: one interface, two backends.

``FlowTable`` is the interface. ``PyFlowTable`` is the pure-Python backend and the reference: Python ``Flow``
objects in dicts keyed by the sender's (address, port, address, port, vlan), both directions. ``CFlowTable`` is
the same table with the C fast path (agent/_fastscan.c) beside it: C mirrors every Python flow (it counts
established-flow packets and feeds their dissectors without Python), and owns *light flows* alone (ports no
dissector, OT label or DHCP claims, and the ports of IT dissectors with a peek budget, FlowEntry.peek: their
first bytes go to Python as LIGHT_PEEK events, agent/peek.py), which Python hears of only through named
records: ``Event`` (an ``EventKind``), ``LightTotals``, ``Adopted``, ``FlowCounters``, ``Peek``, ...

The interface the pipeline uses:
  * ``owns``              the shard rule (which worker owns a conversation)
  * ``tcp_flow``/``udp_flow``  the flow of a packet, created (orientation, eviction, port reuse) if new
  * ``note``              the SPAN duplicate rule, then the packet counted
  * ``expire``            flows idle past their timeout, retired
  * ``fold``/``fold_all`` a flow's new totals as a ``FlowTotals`` (light flows: ``LightTotals`` from C)
and, for the dissector host, ``set_spec``/``set_mode``/``detach``/``absorb`` (what C must know of a
flow's dissector; no-ops here). The rules both backends implement (shard hash, orientation, duplicates,
timeouts, port reuse) are each written once per backend: here and in _fastscan.c, held together by the
equivalence tests (tests/unit/test_fastpath.py, tests/unit/test_pipeline.py, tests/integration/test_workers.py).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from enum import IntEnum
from typing import Any, NamedTuple, Protocol

from otscope.agent import l2
from otscope.agent.flows import BY, DK, HELD, HINT_ONLY_PORTS, OT_PORTS, PK, PL, SERVER_PORTS, Flow, orient
from otscope.agent.decode import Packet
from otscope.agent.hosts import INITIAL_TTLS, HostTable, IPAddr
from otscope.agent.stats import Stats
from otscope.dissectors import registry
from otscope.dissectors.base import Dissector

UDP_TIMEOUT, TCP_TIMEOUT, CLOSED_TIMEOUT = 180.0, 900.0, 30.0
MAX_EXPECTED = 4096           # client ends whose server may answer from another UDP port (PNIO-CM)
FIN_BOTH = 3                 # Flow.fin: a FIN each way, or a RST
# UDP ports a frame parser claims (DHCP's 67/68 today): such datagrams go to the layer-2 dispatcher
DATAGRAM_PORTS = frozenset(l2.udp_ports())
PROTO = {"tcp": 6, "udp": 17}


class EventKind(IntEnum):
    """What the C fast path hands back in scan()'s events list (agent/_fastscan.c, same values)."""
    PAYLOAD = 0              # TCP payload C did not feed (no handshake seen, out of order): Python reassembles
    UDP = 1                  # a datagram for a dissector whose flow is in EVENTS mode
    DRAIN = 2                # the dissector returned a status or has facts/anomalies to drain (payload: status)
    ERROR = 3                # the dissector raised (payload: the exception's name)
    LIGHT_NEW = 4            # a new light flow; payload LightHosts: its ends Python has no host for yet
    LIGHT_FIRST = 5          # the first frame from one side of a light flow; payload FirstFrame
    LIGHT_END = 6            # a light flow ended (port reuse) and its conversation's sums had no room; LightTotals
    LIGHT_PEEK = 7           # payload of a light flow on a port an IT dissector claims, within its peek budget: Peek
    LIGHT_MEMO = 8           # a peeked light flow's first events matched a memo, the next did not: MemoPrefix


class DissectorMode(IntEnum):
    """How C treats a Python flow's payload (Table.set_mode)."""
    OFF = 0                  # no dissector (detached or none)
    FEED = 1                 # C feeds in-order payload to the dissector itself
    EVENTS = 2               # every payload goes to Python (out-of-order data waiting, or a FATAL/raise)


class Noted(IntEnum):
    """What FlowTable.note() made of a packet."""
    COUNTED = 0
    FIRST = 1                # the first counted from its side
    DUPLICATE = -1           # a SPAN copy, dropped


COUNTED, FIRST, DUPLICATE = Noted.COUNTED, Noted.FIRST, Noted.DUPLICATE


class FlowTotals(NamedTuple):
    """What a Python flow has new since it was last folded (the accumulator adds it to the batch)."""
    vlan: int
    cip: IPAddr
    sip: IPAddr
    transport: str
    sport: int
    label: str               # the confirmed protocol, "" if none
    ot: bool                 # the server port is an OT port
    packets: int
    bytes: int
    payload: int
    decoded: int
    first: float
    last: float              # also: both ends seen until
    profile: dict            # the dissector's per-conversation counters (consumed when added)


def timeout_of(fin: int, transport: str) -> float:
    """How long a flow may stay idle: closed (FIN both ways or RST), else UDP, else TCP."""
    return CLOSED_TIMEOUT if fin == FIN_BOTH else UDP_TIMEOUT if transport == "udp" else TCP_TIMEOUT


def _fold32(ip: IPAddr) -> int:
    if isinstance(ip, int):
        return ip
    return int.from_bytes(ip[0:4], "big") ^ int.from_bytes(ip[4:8], "big") ^ int.from_bytes(ip[8:12], "big") ^ \
        int.from_bytes(ip[12:16], "big")


def shard_of(a: IPAddr, b: IPAddr, pa: int, pb: int, n: int) -> int:
    """Which of n workers owns a conversation: symmetric in its two ends (same formula as _fastscan.c)."""
    x = (_fold32(a) ^ _fold32(b) ^ (((pa ^ pb) * 0x9E3779B1) & 0xFFFFFFFF)) & 0xFFFFFFFF
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & 0xFFFFFFFF
    x ^= x >> 16
    return x % n


Pick = Callable[[str, int], type[Dissector] | None]          # (transport, server port) -> dissector class
OnFold = Callable[[Flow, FlowTotals], None]


class FlowTable(Protocol):
    """What the pipeline and the dissector host use of a flow table (``PyFlowTable``, ``CFlowTable``)."""

    fast: Any                 # the C table, or None
    active: dict[tuple, Flow]  # every Python flow, oldest first

    def owns(self, pkt: Packet) -> bool: ...
    def tcp_flow(self, pkt: Packet) -> tuple[Flow, int]: ...
    def udp_flow(self, pkt: Packet) -> tuple[Flow, int]: ...
    def note(self, fl: Flow, d: int, pkt: Packet, plen: int) -> Noted: ...
    def hold(self, fl: Flow, d: int) -> None: ...
    def mark_seen(self, fl: Flow, d: int) -> None: ...
    def expire(self, now: float) -> None: ...
    def fold_all(self) -> None: ...
    def set_spec(self, fl: Flow, spec: object) -> None: ...
    def set_mode(self, fl: Flow) -> None: ...
    def detach(self, fl: Flow) -> None: ...
    def absorb(self, fl: Flow, diss: Dissector) -> None: ...
    def spend(self, fl: Flow, d: int, n: int) -> int: ...


class PyFlowTable:
    """The pure-Python backend (and the reference for the C one)."""

    fast = None               # the C table (CFlowTable only)

    def __init__(self, stats: Stats, hosts: HostTable, pick: Pick, on_fold: OnFold, *, max_flows: int,
                 dup_window: float, shard: tuple[int, int] = (0, 1)) -> None:
        self.stats = stats
        self.hosts = hosts
        self.pick = pick
        self.on_fold = on_fold
        self.max_flows = max_flows
        self.dup_window = dup_window
        self.shard_k, self.shard_n = shard
        self.tcp: dict[tuple, tuple[Flow, int]] = {}
        self.udp: dict[tuple, tuple[Flow, int]] = {}
        self.active: dict[tuple, Flow] = {}            # creation order: the oldest is evicted first
        # UDP ends (vlan, address, port) of clients whose server answers from another port (PNIO-CM): the
        # answer's new flow gets the dissector (see expect); oldest dropped beyond MAX_EXPECTED
        self.expected: dict[tuple, type[Dissector]] = {}

    # -- the shard rule ----------------------------------------------------------------------------------
    def owns(self, pkt: Packet) -> bool:
        """This worker's conversation (ports 0 for IP without ports: the address pair decides)."""
        return self.shard_n == 1 or shard_of(pkt.src, pkt.dst, pkt.sp, pkt.dp, self.shard_n) == self.shard_k

    # -- a packet's flow ---------------------------------------------------------------------------------
    def udp_flow(self, pkt: Packet) -> tuple[Flow, int]:
        """(flow, side) of a datagram; a new flow if none."""
        ent = self.udp.get((pkt.src, pkt.sp, pkt.dst, pkt.dp, pkt.vlan))
        if ent is None:
            ent = self.adopt("udp", pkt) or self.create("udp", pkt, orient(pkt.sp, pkt.dp, False, False))
        return ent

    def tcp_flow(self, pkt: Packet) -> tuple[Flow, int]:
        """(flow, side) of a segment; SYN/FIN/RST update it (a SYN on an ended flow: a new one)."""
        ent = self.tcp.get((pkt.src, pkt.sp, pkt.dst, pkt.dp, pkt.vlan))
        if ent is None:
            ent = self.adopt("tcp", pkt)
        if ent is None or pkt.flags & 7:
            ent = self._tcp_control(ent, pkt)
        return ent

    def _tcp_control(self, ent: tuple[Flow, int] | None, pkt: Packet) -> tuple[Flow, int]:
        flags = pkt.flags
        syn, ack, fin, rst = flags & 2, flags & 16, flags & 1, flags & 4
        if ent is not None and syn and not ack and self.ended_or_spoke(ent[0]):
            self.retire(ent[0])                          # port reuse: a new connection on an old key
            ent = None
        if ent is None:
            ent = self.create("tcp", pkt, orient(pkt.sp, pkt.dp, bool(syn and not ack), bool(syn and ack)))
        fl, d = ent
        if syn:
            fl.nseq[d] = (pkt.seq + 1) & 0xFFFFFFFF
        if fin:
            fl.fin |= 1 << d
        if rst:
            fl.fin |= FIN_BOTH
        return ent

    def create(self, transport: str, pkt: Packet, client_is_sender: bool) -> tuple[Flow, int]:
        """A new flow from its first packet; the oldest flow makes room when the table is full."""
        src, sp, dst, dp, vlan, ts, frame = pkt.src, pkt.sp, pkt.dst, pkt.dp, pkt.vlan, pkt.ts, pkt.frame
        if self.live_flows() >= self.max_flows:
            self.evict()
            self.stats.flows_evicted += 1
        cport, sport = (sp, dp) if client_is_sender else (dp, sp)
        cls = self.pick(transport, sport)
        if cls is None and cport not in HINT_ONLY_PORTS and self.pick(transport, cport) is not None:
            # the protocol's port is on the initiator's side (a device on 502 that opened the connection):
            # the protocol server is the side of its well-known port, whatever the handshake said (not for a hint
            # port that decides no direction: MELSEC's 1025-1030 are Windows XP's first ephemeral ports)
            client_is_sender = not client_is_sender
            cls = self.pick(transport, cport)
        if cls is None and self.expected and transport == "udp":
            for end, sender in (((vlan, dst, dp), False), ((vlan, src, sp), True)):
                cls = self.expected.pop(end, None)
                if cls is not None:                  # the expected client end is this flow's client
                    client_is_sender = sender
                    self._unexpect(end)
                    break
        if client_is_sender:
            fl = Flow((src, sp, dst, dp, vlan), vlan, transport, src, dst, sp, dp, ts, frame)
        else:
            fl = Flow((dst, dp, src, sp, vlan), vlan, transport, dst, src, dp, sp, ts, frame)
        self.stats.flows_created += 1
        self.hosts.host(vlan, src, ts, frame)
        self.hosts.host(vlan, dst, ts, frame)
        if cls is not None:
            fl.diss = cls()
            if transport == "udp" and cls.answers_from_other_port:
                self.expect((vlan, fl.cip, fl.cport), cls)
            peek = getattr(cls, "peek", 0)
            if peek > 0:
                fl.peek = [peek, peek]
        ent_fwd = self.register(fl)
        return ent_fwd if client_is_sender else (fl, 1)

    def expect(self, end: tuple, cls: type[Dissector]) -> None:
        """A UDP server that may answer from another port than the one it was asked on (a PROFINET IO device
        answers PNIO-CM from an ephemeral port, DCE/RPC over UDP): the first new flow to or from the client's
        end (vlan, address, port) is this dissector's."""
        if end not in self.expected and len(self.expected) >= MAX_EXPECTED:
            oldest = next(iter(self.expected))
            del self.expected[oldest]
            self._unexpect(oldest)
        self.expected[end] = cls
        if self.fast is not None:
            self.fast.expect(end[0], end[1], end[2], True)

    def _unexpect(self, end: tuple) -> None:
        if self.fast is not None:
            self.fast.expect(end[0], end[1], end[2], False)

    def register(self, fl: Flow) -> tuple[Flow, int]:
        """Put a flow in the tables, both directions."""
        table = self.tcp if fl.transport == "tcp" else self.udp
        ent_fwd = (fl, 0)
        table[fl.key] = ent_fwd
        table[(fl.sip, fl.sport, fl.cip, fl.cport, fl.vlan)] = (fl, 1)
        self.active[(fl.transport, fl.key)] = fl
        return ent_fwd

    def adopt(self, transport: str, pkt: Packet) -> tuple[Flow, int] | None:
        """A flow another backend kept alone, handed over (none here)."""
        return None

    def live_flows(self) -> int:
        return len(self.active)

    def evict(self) -> None:
        self.retire(next(iter(self.active.values())))

    # -- a packet counted ----------------------------------------------------------------------------------
    def note(self, fl: Flow, d: int, pkt: Packet, plen: int) -> Noted:
        """Count a packet of side d: COUNTED, FIRST (the first counted from that side: its sender is looked
        at) or DUPLICATE (the same IPv4 header again at once from that side, a SPAN copy: dropped)."""
        dk, ts = pkt.dk, pkt.ts
        c = fl.counts
        if dk == c[DK + d] and dk >= 0 and ts - fl.last <= self.dup_window:
            self.stats.span_duplicates += 1
            return DUPLICATE
        c[DK + d] = dk
        fl.last = ts
        first = not c[d]                             # (PK + d)
        c[d] += 1
        c[BY + d] += pkt.incl
        if plen > 0:
            c[PL + d] += plen
        return FIRST if first else COUNTED

    def hold(self, fl: Flow, d: int) -> None:
        """That first packet came from a group MAC (bogus): held aside, the next one is looked at again."""
        fl.counts[PK + d] -= 1
        fl.counts[HELD + d] += 1

    def mark_seen(self, fl: Flow, d: int) -> None:
        """The sender of that side has been looked at."""

    def ended_or_spoke(self, fl: Flow) -> bool:
        return bool(fl.fin or fl.counts[PL] or fl.counts[PL + 1])

    # -- expiry and totals ---------------------------------------------------------------------------------
    def expire(self, now: float) -> None:
        dead = [fl for fl in self.active.values() if now - fl.last > timeout_of(fl.fin, fl.transport)]
        for fl in dead:
            self.retire(fl)
        self.stats.flows_expired += len(dead)

    def retire(self, fl: Flow) -> None:
        """Remove a flow: report what it has not reported yet, then forget it."""
        self.on_fold(fl, self.fold(fl))
        table = self.tcp if fl.transport == "tcp" else self.udp
        table.pop(fl.key, None)
        table.pop((fl.sip, fl.sport, fl.cip, fl.cport, fl.vlan), None)
        self.active.pop((fl.transport, fl.key), None)

    def fold(self, fl: Flow) -> FlowTotals:
        """A flow's counters since its last fold."""
        diss = fl.diss
        if diss is not None:
            self.absorb(fl, diss)
        pk, by, pl = self.counted(fl)
        dec = fl.decoded_extra + (diss.decoded if diss is not None else 0)
        if diss is not None and diss.confirmed and fl.proto != diss.flow_protocol:
            fl.proto = diss.flow_protocol
        d_pk, d_by, d_pl, d_dec = pk - fl.rep_pk, by - fl.rep_by, pl - fl.rep_pl, dec - fl.rep_dec
        fl.rep_pk, fl.rep_by, fl.rep_pl, fl.rep_dec = pk, by, pl, dec
        # (a peeked IT flow reports no profile: in C it is a light flow, which has none)
        return FlowTotals(fl.vlan, fl.cip, fl.sip, fl.transport, fl.sport, fl.proto, fl.ot, d_pk, d_by, d_pl, d_dec,
                          fl.first, fl.last, diss.profile if diss is not None and fl.peek is None else {})

    def counted(self, fl: Flow) -> tuple[int, int, int]:
        """(packets, bytes, payload bytes) of a flow so far."""
        c = fl.counts
        return c[PK] + c[PK + 1] + c[HELD] + c[HELD + 1], c[BY] + c[BY + 1], c[PL] + c[PL + 1]

    def fold_all(self) -> None:
        """Every live flow's new totals to on_fold (a snapshot)."""
        for fl in self.active.values():
            self.on_fold(fl, self.fold(fl))

    # -- what the C backend must know of a flow's dissector (nothing here) ----------------------------------
    def set_spec(self, fl: Flow, spec: object) -> None:
        pass

    def set_mode(self, fl: Flow) -> None:
        """After Python reassembled: C feeds again, or keeps handing payload over while segments wait."""

    def detach(self, fl: Flow) -> None:
        pass

    def absorb(self, fl: Flow, diss: Dissector) -> None:
        """Frames the C fast path counted with the dissector's spec go back to the dissector's counters."""

    def spend(self, fl: Flow, d: int, n: int) -> int:
        """The peek budget of a flow whose dissector has one (FlowEntry.peek), for n payload bytes of side d:
        0 that side's budget is spent (not fed), 1 feed them, 2 feed them and both sides' budgets are now spent
        (the dissector is done: detached quietly). The same rule as _fastscan.c peek_spend."""
        peek = fl.peek
        if peek is None:
            return 1
        if peek[d] <= 0:
            return 0
        peek[d] -= n
        return 2 if peek[0] <= 0 and peek[1] <= 0 else 1


class CFlowTable(PyFlowTable):
    """The same table with the C fast path: C mirrors every flow (flow id = fid) and keeps light flows alone."""

    def __init__(self, fast, stats: Stats, hosts: HostTable, pick: Pick, on_fold: OnFold,  # type: ignore[no-untyped-def]
                 on_light: Callable, *, max_flows: int, dup_window: float, shard: tuple[int, int] = (0, 1),
                 python_ports: tuple[set[int], set[int]]) -> None:
        super().__init__(stats, hosts, pick, on_fold, max_flows=max_flows, dup_window=dup_window, shard=shard)
        self.fast = fast
        self.on_light = on_light
        self.by_fid: list[Flow | None] = []
        self.free_fids: list[int] = []
        self._light_created = 0
        hosts.on_full = fast.hosts_full
        # flows on ports no dissector, OT label or DHCP claims live in C alone (light flows, see _fastscan.c), and
        # so do flows on the ports of IT dissectors with a peek budget: C hands Python their first bytes only
        tcp, udp = python_ports
        peek = registry.peek_ports()
        tcp = tcp - {p for (tr, p) in peek if tr == "tcp"}
        udp = udp - {p for (tr, p) in peek if tr == "udp"}
        fast.light_config(max_flows, _port_bitmap(tcp), _port_bitmap(udp), _port_bitmap(SERVER_PORTS),
                          _port_bitmap(INITIAL_TTLS)[:32])
        budgets = sorted(set(peek.values()))
        classes = [bytearray(65536), bytearray(65536)]
        for (tr, p), b in peek.items():
            classes[tr == "udp"][p] = 1 + budgets.index(b)
        fast.peek_config(bytes(classes[0]), bytes(classes[1]), [0] + budgets)

    def register(self, fl: Flow) -> tuple[Flow, int]:
        ent_fwd = super().register(fl)
        fid = self.free_fids.pop() if self.free_fids else len(self.by_fid)
        if fid == len(self.by_fid):
            self.by_fid.append(fl)
        else:
            self.by_fid[fid] = fl
        fl.fid = fid
        fl.seq = self.fast.add(fid, PROTO[fl.transport], fl.vlan, fl.cip, fl.cport, fl.sip, fl.sport, fl.diss, fl.nseq,
                               fl.peek[0] if fl.peek else 0)
        return ent_fwd

    def adopt(self, transport: str, pkt: Packet) -> tuple[Flow, int] | None:
        """A packet Python must see of a flow C keeps alone (a fragment, IPv6 extension headers): the flow
        becomes an ordinary one, with what C counted, as if it had been one from the start."""
        vlan = pkt.vlan
        a = self.fast.adopt(PROTO[transport], vlan, pkt.src, pkt.sp, pkt.dst, pkt.dp)
        if a is None:
            return None
        fl = Flow((a.cip, a.cport, a.sip, a.sport, vlan), vlan, transport, a.cip, a.sip, a.cport, a.sport, a.first, 0)
        # a side not yet "seen" (its first frames came from a group MAC) is looked at again, as in note()/hold()
        fl.counts = [a.pk0 if a.seen0 else 0, a.pk1 if a.seen1 else 0, a.by0, a.by1, a.pl0, a.pl1, a.dk0, a.dk1,
                     0 if a.seen0 else a.pk0, 0 if a.seen1 else a.pk1]            # (PK, BY, PL, DK, HELD)
        fl.last, fl.fin, fl.rep_pk, fl.rep_by, fl.rep_pl = a.last, a.fin, a.rep_pk, a.rep_by, a.pl0 + a.pl1
        self.register(fl)
        fl.seq = a.seq
        for side, seen, dk in ((0, a.seen0, a.dk0), (1, a.seen1, a.dk1)):
            self.fast.note(fl.fid, side, dk, a.last, a.fin)        # C's duplicate keys, last time and FIN bits
            if seen:
                self.fast.mark_seen(fl.fid, side)
        table = self.tcp if transport == "tcp" else self.udp
        return table[(pkt.src, pkt.sp, pkt.dst, pkt.dp, vlan)]   # (a host talking to itself on one port: side 1)

    def live_flows(self) -> int:
        return len(self.active) + self.fast.light_count().live

    def evict(self) -> None:
        """The oldest flow, Python's or a light one (creation numbers are shared)."""
        oldest = next(iter(self.active.values()), None)
        if self.fast.light_count().live and (oldest is None or self.fast.oldest_light() < oldest.seq):
            self.on_light(self.fast.evict_light())
        else:
            self.retire(oldest)  # type: ignore[arg-type]

    def note(self, fl: Flow, d: int, pkt: Packet, plen: int) -> Noted:
        noted = super().note(fl, d, pkt, plen)
        if noted is not DUPLICATE and fl.fid >= 0:
            self.fast.note(fl.fid, d, pkt.dk, pkt.ts, fl.fin)
        return noted

    def hold(self, fl: Flow, d: int) -> None:
        super().hold(fl, d)
        if fl.fid >= 0:
            self.fast.mark_seen(fl.fid, d, False)

    def mark_seen(self, fl: Flow, d: int) -> None:
        if fl.fid >= 0:
            self.fast.mark_seen(fl.fid, d)

    def ended_or_spoke(self, fl: Flow) -> bool:
        if super().ended_or_spoke(fl):
            return True
        if fl.fid < 0:
            return False
        c = self.fast.counters(fl.fid)
        return bool(c.pl0 or c.pl1 or self.fast.state(fl.fid).fin)

    def expire(self, now: float) -> None:
        # the C table knows every flow's last packet and FIN/RST state (Python's packets are noted there)
        dead = [fl for fid in self.fast.idle(now, TCP_TIMEOUT, UDP_TIMEOUT, CLOSED_TIMEOUT)
                if (fl := self.by_fid[fid]) is not None]
        for fl in dead:
            self.retire(fl)
        self.stats.flows_expired += len(dead)
        gone = self.fast.expire_light(now, TCP_TIMEOUT, UDP_TIMEOUT, CLOSED_TIMEOUT)
        for totals in gone.unsummed:
            self.on_light(totals)
        self.stats.flows_expired += gone.expired

    def retire(self, fl: Flow) -> None:
        super().retire(fl)
        if fl.fid >= 0:
            self.fast.remove(fl.fid, PROTO[fl.transport], fl.vlan, fl.cip, fl.cport, fl.sip, fl.sport)
            self.by_fid[fl.fid] = None
            self.free_fids.append(fl.fid)
            fl.fid = -1

    def counted(self, fl: Flow) -> tuple[int, int, int]:
        pk, by, pl = super().counted(fl)
        if fl.fid >= 0:
            c = self.fast.counters(fl.fid)
            pk += c.pk0 + c.pk1
            by += c.by0 + c.by1
            pl += c.pl0 + c.pl1
            if c.last > fl.last:
                fl.last = c.last
        return pk, by, pl

    def fold_all(self) -> None:
        super().fold_all()
        for totals in self.fast.fold_light():
            self.on_light(totals)
        created = self.fast.light_count().created
        self.stats.flows_created += created - self._light_created
        self._light_created = created

    def flow(self, fid: int) -> Flow | None:
        """The Python flow of a C flow id (an Event's flow)."""
        return self.by_fid[fid]

    def set_spec(self, fl: Flow, spec: object) -> None:
        if fl.fid >= 0:
            self.fast.set_spec(fl.fid, spec)

    def set_mode(self, fl: Flow) -> None:
        if fl.fid >= 0:
            self.fast.set_mode(fl.fid, DissectorMode.EVENTS if fl.ooo else DissectorMode.FEED)

    def detach(self, fl: Flow) -> None:
        if fl.fid >= 0:
            self.fast.set_mode(fl.fid, DissectorMode.OFF)

    def spend(self, fl: Flow, d: int, n: int) -> int:
        """The peek budget is C's (it spends it on the payload it feeds): Python's own feeds spend it there."""
        if fl.peek is None or fl.fid < 0:
            return super().spend(fl, d, n)
        return self.fast.spend(fl.fid, d, n)

    def absorb(self, fl: Flow, diss: Dissector) -> None:
        if fl.fid >= 0:
            got = self.fast.spec_counts(fl.fid)
            if got.decoded:
                diss.absorb(got.side0, got.side1, got.decoded)


def _port_bitmap(ports: set[int] | frozenset[int]) -> bytes:
    bits = bytearray(8192)
    for p in ports:
        bits[p >> 3] |= 1 << (p & 7)
    return bytes(bits)


def c_table(dup_window: float, shard: tuple[int, int]):  # type: ignore[no-untyped-def]
    """The C fast path's table, unless it is not built (or built from another version of _fastscan.c) or
    OTSCOPE_PURE_PYTHON=1: then the pure-Python backend does the same work, slower."""
    if os.environ.get("OTSCOPE_PURE_PYTHON") == "1":
        return None
    try:
        from otscope.agent import _fastscan
    except ImportError:
        return None
    stale = _disagreement(_fastscan)
    if stale:
        warnings.warn(f"agent/_fastscan.c was built from another version ({stale}): pure Python until it is "
                      "rebuilt (pip install -e .)", RuntimeWarning, stacklevel=2)
        return None
    return _fastscan.Table(dup_window, *shard)


def _disagreement(mod) -> str:  # type: ignore[no-untyped-def]
    """What the built C module says differently from these enums and records ("" if nothing)."""
    for enum, prefix in ((EventKind, "EV_"), (DissectorMode, "MODE_")):
        for k in enum:
            if getattr(mod, prefix + k.name, None) != k.value:
                return f"{prefix}{k.name}"
    for name in ("Event", "LightTotals", "Adopted", "FlowCounters", "FlowState", "SpecCounts", "ScanResult",
                 "LightHosts", "FirstFrame", "Expired", "LightCount", "Peek"):
        if not hasattr(mod, name):
            return name
    if not hasattr(mod.Table, "spend"):
        return "Table.spend"
    return ""


def python_ports(tcp_ports: set[int], udp_ports: set[int]) -> tuple[set[int], set[int]]:
    """Ports whose flows Python must own: a dissector's, an OT label's, DHCP's."""
    return tcp_ports | OT_PORTS.keys(), udp_ports | OT_PORTS.keys() | DATAGRAM_PORTS
