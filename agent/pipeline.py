"""The capture loop: frames -> headers -> flows -> dissectors -> observations.

Performance notes (measured with ``python -m otscope.agent.bench``): frames are never copied unless a
dissector needs their payload; headers are read with precompiled ``struct`` unpackers at absolute offsets
into the chunk buffer; a known flow costs one dict lookup; the in-order TCP case feeds the dissector
directly. Everything rare (new flows, TCP flags, out-of-order data, layer-2 protocols, facts) lives in
methods outside the loop.

Never crash: a malformed frame is a counted anomaly; a dissector that raises is detached from its flow
and counted as ``dissector-error`` (a bug to fix, with the frame number as evidence).
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass, field

from otscope.agent.accumulate import Accumulator
from otscope.agent.flows import OT_PORTS, SERVER_PORTS, Flow, orient, tcp_unordered
from otscope.agent.pcapio import LE_RECORDS
from otscope.agent.snapshot import Snapshot, build_batch
from otscope.agent.l2 import L2Dispatcher
from otscope.contract import Batch, Subject
from otscope.dissectors.base import FATAL, Dissector, Who
from otscope.dissectors.registry import tcp_dissector_for, tcp_ports, udp_dissector_for, udp_ports

_IP4 = struct.Struct(">BxHHHBBHII").unpack_from    # IPv4 addresses as ints: cheap to hash
_IP6 = struct.Struct(">IHBB16s16s").unpack_from
_TCP = struct.Struct(">HHIIBB").unpack_from
_ETH_IP4_TCP = struct.Struct(">12xHBxHHHBBHIIHHI4xBB").unpack_from   # 14 + 20 + 14 bytes, ack skipped
_UDP = struct.Struct(">HHH").unpack_from
_U16 = struct.Struct(">H").unpack_from

ETH_IPV4, ETH_IPV6, ETH_ARP, ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8, 0x9100
INITIAL_TTLS = frozenset({30, 32, 60, 64, 100, 128, 200, 255})
V6_EXT = frozenset({0, 43, 60, 51, 135, 139, 140})  # hop-by-hop, routing, dest opts, AH, mobility, HIP, shim6
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_RAW_ALT, LINKTYPE_LOOP = 0, 1, 101, 12, 108
LINKTYPE_SLL, LINKTYPE_SLL2, LINKTYPE_IPV4, LINKTYPE_IPV6 = 113, 276, 228, 229
MODE_OFF, MODE_FEED, MODE_EVENTS = 0, 1, 2           # _fastscan modes of a flow's dissector
EV_DRAIN, EV_ERROR, EV_UDP = -3, -2, -1               # _fastscan event kinds (the seq field when negative)
EV_LIGHT_NEW, EV_LIGHT_FIRST, EV_LIGHT_END = -4, -5, -6  # light-flow events (flow id -1)
DHCP_PORTS = (67, 68)
UDP_TIMEOUT, TCP_TIMEOUT, CLOSED_TIMEOUT, SWEEP_EVERY = 180.0, 900.0, 30.0, 30.0
MAX_HOSTS = 200_000          # hosts a sensor tracks (a plant has far fewer; a scan of spoofed sources has more)


@dataclass
class Stats:
    packets: int = 0
    bytes: int = 0
    non_ip_frames: int = 0
    span_duplicates: int = 0
    ip_fragments: int = 0
    flows_created: int = 0
    flows_expired: int = 0
    flows_evicted: int = 0
    dissector_detached: int = 0
    anomalies: int = 0
    unknown_linktype: int = 0
    by_linktype: dict[int, int] = field(default_factory=dict)


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


def _fast_table(dup_window: float, shard_k: int = 0, shard_n: int = 1):  # type: ignore[no-untyped-def]
    """The C fast path's flow table, unless it is not built or OTSCOPE_PURE_PYTHON=1."""
    if os.environ.get("OTSCOPE_PURE_PYTHON") == "1":
        return None
    try:
        from otscope.agent._fastscan import Table
    except ImportError:
        return None
    return Table(dup_window, shard_k, shard_n)


def _port_bitmap(ports: set[int] | frozenset[int]) -> bytes:
    bits = bytearray(8192)
    for p in ports:
        bits[p >> 3] |= 1 << (p & 7)
    return bytes(bits)


def _light_config(fast, max_flows: int) -> None:  # type: ignore[no-untyped-def]
    """Flows on ports no dissector, OT label or DHCP claims live in C alone (light flows, see _fastscan.c)."""
    python_tcp = tcp_ports() | OT_PORTS.keys()
    python_udp = udp_ports() | OT_PORTS.keys() | set(DHCP_PORTS)
    fast.light_config(max_flows, _port_bitmap(python_tcp), _port_bitmap(python_udp), _port_bitmap(SERVER_PORTS),
                      _port_bitmap(INITIAL_TTLS)[:32])


class HostState:
    __slots__ = ("first", "last", "sent", "macs", "dirty")

    def __init__(self, ts: float) -> None:
        self.first = ts
        self.last = ts
        self.sent = False
        self.macs: dict[str, bool] = {}      # src MAC -> every frame from it had an initial TTL
        self.dirty = True


IPAddr = int | bytes          # IPv4 as int, IPv6 as 16 bytes


def _is_host_ip(ip: IPAddr) -> bool:
    """Unicast, not unspecified (multicast and limited broadcast are never hosts)."""
    if isinstance(ip, int):
        return ip != 0 and ip >> 28 < 14
    return ip[0] != 0xFF and ip != bytes(16)


def _is_directed_broadcast(ip: IPAddr) -> bool:
    return isinstance(ip, int) and ip & 0xFF == 0xFF


class Pipeline:
    def __init__(self, sensor: str = "replay", *, max_flows: int = 200_000, dup_window: float = 0.05,
                 live: bool = False, fast: bool = True, shard: tuple[int, int] = (0, 1),
                 max_hosts: int = MAX_HOSTS) -> None:
        self.sensor = sensor
        self.max_hosts = max_hosts
        self._refused: tuple[int, float] | None = None     # first host refused since the last batch
        self.live = live
        self.max_flows = max_flows
        self.dup_window = dup_window
        self.stats = Stats()
        self.acc = Accumulator("", frame_evidence=not live)
        self.l2 = L2Dispatcher(self.acc)
        self.tcp: dict[tuple, tuple[Flow, int]] = {}
        self.udp: dict[tuple, tuple[Flow, int]] = {}
        self.other: dict[tuple, float] = {}
        self.active: dict[tuple, Flow] = {}            # creation order: the oldest is evicted first
        self.hosts: dict[tuple[int, bytes], HostState] = {}
        self.mac_ips: dict[tuple[int, str], set[bytes]] = {}
        self.pending_comms: dict[tuple, list] = {}
        self.pending_traffic: dict[str, list[int]] = {}
        self.ipstr: dict[IPAddr, str] = {}
        self.frame = 0
        self.shard_k, self.shard_n = shard
        self.primary = self.shard_k == 0                 # frames no flow owns (L2, broken) are the first shard's
        self.fast = _fast_table(dup_window, self.shard_k, self.shard_n) if fast else None
        if self.fast is not None:
            _light_config(self.fast, max_flows)
        self._light_created = 0
        self.by_fid: list[Flow | None] = []
        self.free_fids: list[int] = []
        self._events: list = []
        self.last_sweep = 0.0
        self.now = 0.0

    # -- sources ---------------------------------------------------------------------------------------
    def start_source(self, name: str) -> None:
        """A new capture file: frame numbers restart, evidence names this file."""
        self.acc.source = name
        self.frame = 0

    # -- the hot loop ----------------------------------------------------------------------------------
    def feed_chunk(self, chunk: tuple) -> None:
        """Process a chunk of records: the C fast path takes established-flow packets, Python the rest."""
        lt, rec, scale, buf, pos, end, _n = chunk
        fast = self.fast
        if fast is None or lt != LINKTYPE_ETHERNET:
            self._feed_py(lt, rec, scale, buf, pos, end)
            if self.now - self.last_sweep > SWEEP_EVERY:
                self._sweep(self.now)
            return
        le = rec is LE_RECORDS
        st = self.stats
        events = self._events
        scan = fast.scan
        while pos < end:
            pos, self.frame, npk, nby, ndup, last = scan(buf, pos, end, le, scale, self.frame, events)
            st.packets += npk
            st.bytes += nby
            st.span_duplicates += ndup
            if last > self.now:
                self.now = last
            if events:
                self._dispatch(events)
                events.clear()
            if pos < end:                                  # one record the fast path left to Python
                nxt = pos + 16 + rec(buf, pos)[2]
                self._feed_py(lt, rec, scale, buf, pos, nxt)
                pos = nxt
        if self.now - self.last_sweep > SWEEP_EVERY:
            self._sweep(self.now)

    def _dispatch(self, events: list) -> None:
        """What the C fast path handed back, in capture order: payload it did not feed (first data without
        a handshake, out-of-order segments), and dissectors with something to drain or that raised."""
        flows = self.by_fid
        for fid, d, ts, frame, payload, seq in events:
            if fid < 0:
                self._light_event(seq, payload, ts, frame)
                continue
            fl = flows[fid]
            diss = fl.diss if fl is not None else None
            if diss is None:
                continue
            if seq == EV_DRAIN:
                self._drain(fl, diss, payload, frame, ts)
                continue
            if seq == EV_ERROR:
                self._dissector_error(fl, diss, payload, frame, ts)
                continue
            try:
                if seq == EV_UDP:
                    r = diss.feed(payload, d, ts, frame)
                else:
                    r = tcp_unordered(fl, d, seq, payload, ts, frame)[0]
                    self.fast.set_mode(fid, MODE_EVENTS if fl.ooo else MODE_FEED)
            except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop the capture
                self._dissector_error(fl, diss, type(exc).__name__, frame, ts)
                continue
            if r or diss.out or diss.anomalies:
                self._drain(fl, diss, r, frame, ts)

    def _feed_py(self, lt: int, rec, scale: float, buf: bytes, pos: int, end: int) -> None:  # noqa: C901
        """The reference capture loop, in Python: every kind of packet (see module doc)."""
        st = self.stats
        tcp_get = self.tcp.get
        udp_get = self.udp.get
        dupwin = self.dup_window
        frame = self.frame
        eth = lt == 1
        nby = 0
        nshard = self.shard_n
        kshard = self.shard_k
        primary = self.primary
        ts = self.now
        while pos < end:
            sec, frac, incl, _orig = rec(buf, pos)
            off = pos + 16
            pos = stop = off + incl
            frame += 1
            nby += incl
            ts = sec + frac * scale
            # Fast path: untagged Ethernet + IPv4 without options + TCP, read with one unpack.
            if eth and incl >= 54:
                et, b0, tot, ipid, fragw, ttl, proto, ck, src, dst, sp, dp, seq, doff, flags = \
                    _ETH_IP4_TCP(buf, off)
                fast = et == 0x0800 and b0 == 0x45 and proto == 6 and not fragw & 0x3FFF and tot >= 40
            else:
                fast = False
            if fast:
                vlan = 0
                iend = off + 14 + tot
                if iend > stop:
                    iend = stop
                p0 = off + 34 + ((doff >> 4) << 2)
                dk = ipid << 16 | ck
            else:
                # ---- link layer -> (l3 offset, ethertype, vlan)
                if eth:
                    if incl < 14:
                        self._decode_anomaly("eth", "truncated-frame", frame, ts)
                        continue
                    et = buf[off + 12] << 8 | buf[off + 13]
                    l3 = off + 14
                    vlan = 0
                    if et == 0x8100 or et == 0x88A8 or et == 0x9100:
                        l3, et, vlan = self._vlans(buf, l3, stop, et, frame, ts)
                        if l3 < 0:
                            continue
                else:
                    l3, et = self._link(lt, buf, off, stop, frame, ts)
                    vlan = 0
                    if l3 < 0:
                        continue
                # ---- network layer
                if et == 0x0800:
                    if l3 + 20 > stop:
                        self._decode_anomaly("ipv4", "truncated-header", frame, ts)
                        continue
                    b0, tot, ipid, fragw, ttl, proto, ck, src, dst = _IP4(buf, l3)
                    ihl = (b0 & 15) << 2
                    if b0 >> 4 != 4 or ihl < 20 or tot < ihl:
                        self._decode_anomaly("ipv4", "bad-header", frame, ts)
                        continue
                    iend = l3 + tot
                    if iend > stop:
                        iend = stop
                    dk = ipid << 16 | ck
                    if fragw & 0x3FFF:
                        if primary:
                            st.ip_fragments += 1
                        if fragw & 0x1FFF:          # no transport header: owned by the address pair
                            if nshard > 1 and shard_of(src, dst, 0, 0, nshard) != kshard:
                                continue
                            self._other_ip(src, dst, 256, vlan, buf, off, ttl, ts, lt, frame)
                            continue
                    l4 = l3 + ihl
                elif et == 0x86DD:
                    if l3 + 40 > stop:
                        self._decode_anomaly("ipv6", "truncated-header", frame, ts)
                        continue
                    vtf, plen6, proto, ttl, src, dst = _IP6(buf, l3)
                    if vtf >> 28 != 6:
                        self._decode_anomaly("ipv6", "bad-header", frame, ts)
                        continue
                    iend = l3 + 40 + plen6
                    if iend > stop:
                        iend = stop
                    l4 = l3 + 40
                    dk = -1                         # IPv6 has no IP id: no duplicate key (checked below)
                    if proto in V6_EXT or proto == 44:
                        l4, proto = self._v6_ext(buf, l4, iend, proto)
                        if l4 < 0:
                            continue
                else:
                    if not primary:
                        continue
                    st.non_ip_frames += 1
                    self._l2(et, buf, off, l3, stop, vlan, lt, frame, ts)
                    continue
                # ---- transport layer (TCP falls through to the shared TCP code below)
                if proto == 6:
                    if l4 + 20 > iend:
                        self._decode_anomaly("tcp", "truncated-header", frame, ts)
                        continue
                    sp, dp, seq, _ack, doff, flags = _TCP(buf, l4)
                    p0 = l4 + ((doff >> 4) << 2)
                elif proto == 17:
                    if l4 + 8 > iend:
                        self._decode_anomaly("udp", "truncated-header", frame, ts)
                        continue
                    sp, dp, _ulen = _UDP(buf, l4)
                    if nshard > 1 and shard_of(src, dst, sp, dp, nshard) != kshard:
                        continue
                    ent = udp_get((src, sp, dst, dp, vlan))
                    if ent is None:
                        ent = (self.fast is not None and self._adopt("udp", src, sp, dst, dp, vlan)) or \
                            self._new_udp(src, sp, dst, dp, vlan, ts, frame)
                    fl, d = ent
                    c = fl.c
                    if dk == c[6 + d] and dk >= 0 and ts - fl.last <= dupwin:
                        st.span_duplicates += 1
                        continue
                    c[6 + d] = dk
                    fl.last = ts
                    if fl.fid >= 0:
                        self.fast.note(fl.fid, d, dk, ts)
                    if not c[d]:
                        self._first_from(fl, d, buf, off, ttl, lt)
                    c[d] += 1
                    c[2 + d] += incl
                    plen = iend - l4 - 8
                    if plen > 0:
                        c[4 + d] += plen
                        diss = fl.diss
                        if diss is not None:
                            try:
                                r = diss.feed(buf[l4 + 8:iend], d, ts, frame)
                            except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop capture
                                self._dissector_error(fl, diss, type(exc).__name__, frame, ts)
                                continue
                            if r or diss.out or diss.anomalies:
                                self._drain(fl, diss, r, frame, ts)
                        elif (sp == 67 or sp == 68) and (dp == 67 or dp == 68):
                            self.l2.dhcp(buf[l4 + 8:iend], self._ip(src), vlan, frame, ts)
                    continue
                else:
                    if nshard > 1 and shard_of(src, dst, 0, 0, nshard) != kshard:
                        continue
                    self._other_ip(src, dst, proto, vlan, buf, off, ttl, ts, lt, frame)
                    continue
            # ---- TCP
            if nshard > 1 and shard_of(src, dst, sp, dp, nshard) != kshard:
                continue
            ent = tcp_get((src, sp, dst, dp, vlan))
            if ent is None and self.fast is not None:
                ent = self._adopt("tcp", src, sp, dst, dp, vlan)
            if ent is None or flags & 7:
                ent = self._tcp_control(ent, src, sp, dst, dp, vlan, flags, seq, buf, off, ttl, ts, frame, lt)
            fl, d = ent
            c = fl.c
            if dk == c[6 + d] and dk >= 0 and ts - fl.last <= dupwin:
                st.span_duplicates += 1              # the same IPv4 header again at once: a SPAN copy
                continue
            c[6 + d] = dk
            fl.last = ts
            if fl.fid >= 0:
                self.fast.note(fl.fid, d, dk, ts, fl.fin)
            if not c[d]:
                self._first_from(fl, d, buf, off, ttl, lt)
            c[d] += 1
            c[2 + d] += incl
            plen = iend - p0
            if plen > 0:
                c[4 + d] += plen
                diss = fl.diss
                if diss is not None:
                    try:
                        nseq = fl.nseq
                        if seq == nseq[d] and fl.ooo is None:
                            nseq[d] = (seq + plen) & 0xFFFFFFFF
                            r = diss.feed(buf[p0:iend], d, ts, frame)
                        else:
                            r = tcp_unordered(fl, d, seq, buf[p0:iend], ts, frame)[0]
                            if fl.fid >= 0:
                                self.fast.set_mode(fl.fid, MODE_EVENTS if fl.ooo else MODE_FEED)
                    except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop the capture
                        self._dissector_error(fl, diss, type(exc).__name__, frame, ts)
                        continue
                    if r or diss.out or diss.anomalies:
                        self._drain(fl, diss, r, frame, ts)
        st.packets += frame - self.frame                # every frame read, whoever owns it
        st.bytes += nby
        self.frame = frame
        if ts > self.now:
            self.now = ts

    # -- link layers (rare paths) ----------------------------------------------------------------------
    def _vlans(self, buf: bytes, l3: int, stop: int, et: int, frame: int, ts: float) -> tuple[int, int, int]:
        """802.1Q / QinQ: the VLAN that identifies the asset is the outermost 12-bit id (0 = untagged)."""
        vlan = -1
        for _ in range(4):
            if not (et == ETH_VLAN or et == ETH_QINQ or et == ETH_QINQ_OLD):
                return l3, et, max(vlan, 0)
            if l3 + 4 > stop:
                break
            tci, et = struct.unpack_from(">HH", buf, l3)
            if vlan < 0:
                vlan = tci & 0x0FFF
            l3 += 4
        self._decode_anomaly("eth", "bad-vlan-stack", frame, ts)
        return -1, 0, 0

    def _link(self, lt: int, buf: bytes, off: int, stop: int, frame: int, ts: float) -> tuple[int, int]:
        st = self.stats
        st.by_linktype[lt] = st.by_linktype.get(lt, 0) + 1
        if lt == LINKTYPE_SLL:
            if stop - off < 16:
                self._decode_anomaly("sll", "truncated-header", frame, ts)
                return -1, 0
            return off + 16, _U16(buf, off + 14)[0]
        if lt == LINKTYPE_SLL2:
            if stop - off < 20:
                self._decode_anomaly("sll2", "truncated-header", frame, ts)
                return -1, 0
            return off + 20, _U16(buf, off)[0]
        if lt in (LINKTYPE_RAW, LINKTYPE_RAW_ALT, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_NULL, LINKTYPE_LOOP):
            l3 = off + 4 if lt in (LINKTYPE_NULL, LINKTYPE_LOOP) else off
            if l3 >= stop:
                self._decode_anomaly("raw", "empty-frame", frame, ts)
                return -1, 0
            v = buf[l3] >> 4
            return l3, ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else 0
        st.unknown_linktype += 1
        self._decode_anomaly("capture", f"unsupported-linktype-{lt}", frame, ts)
        return -1, 0

    def _v6_ext(self, buf: bytes, l4: int, iend: int, proto: int) -> tuple[int, int]:
        for _ in range(8):
            if proto == 44:                              # fragment header (RFC 8200 4.5)
                if self.primary:
                    self.stats.ip_fragments += 1
                if l4 + 8 > iend:
                    return -1, 0
                if _U16(buf, l4 + 2)[0] & 0xFFF8:
                    return -1, 0                         # a non-first fragment carries no transport header
                proto = buf[l4]
                l4 += 8
            elif proto in V6_EXT:
                if l4 + 2 > iend:
                    return -1, 0
                nxt, hlen = buf[l4], buf[l4 + 1]
                l4 += (hlen + 2) * 4 if proto == 51 else (hlen + 1) * 8
                proto = nxt
            else:
                return l4, proto
        return -1, 0

    def _l2(self, et: int, buf: bytes, off: int, l3: int, stop: int, vlan: int, lt: int,
            frame: int, ts: float) -> None:
        if lt != LINKTYPE_ETHERNET:
            return
        self.l2.frame(et, buf, off, l3, stop, vlan, frame, ts)

    def _mac_from(self, buf: bytes, off: int, lt: int) -> str | None:
        if lt == LINKTYPE_ETHERNET:
            return buf[off + 6:off + 12].hex(":")
        if lt == LINKTYPE_SLL and _U16(buf, off + 4)[0] == 6:
            return buf[off + 6:off + 12].hex(":")
        if lt == LINKTYPE_SLL2 and buf[off + 11] == 6:
            return buf[off + 12:off + 18].hex(":")
        return None

    # -- flows (rare paths) ----------------------------------------------------------------------------
    def _host(self, vlan: int, ip: bytes, ts: float, frame: int) -> HostState | None:
        if not _is_host_ip(ip):
            return None
        h = self.hosts.get((vlan, ip))
        if h is None:
            if len(self.hosts) >= self.max_hosts:
                # bounded memory: a host beyond the cap is not tracked (its conversations still are); the batch
                # says so once, with the first refusal as evidence
                if self._refused is None:
                    self._refused = (frame, ts)
                if self.fast is not None:
                    self.fast.hosts_full()
                return None
            h = self.hosts[(vlan, ip)] = HostState(ts)
        return h

    def _first_from(self, fl: Flow, d: int, buf: bytes, off: int, ttl: int, lt: int) -> None:
        """The first frame from one end of a flow: that end is a sender; note its MAC and TTL."""
        ip = fl.cip if d == 0 else fl.sip
        h = self.hosts.get((fl.vlan, ip))
        if h is None:
            return
        h.sent = True
        h.dirty = True
        mac = self._mac_from(buf, off, lt)
        if mac is not None and int(mac[:2], 16) & 1:
            # a group address as source is bogus (hostile or broken frame): look again at the next frame
            fl.c[d] = -1
            fl.c[8 + d] += 1
            if fl.fid >= 0 and self.fast is not None:
                self.fast.mark_seen(fl.fid, d, False)
            return
        if fl.fid >= 0 and self.fast is not None:
            self.fast.mark_seen(fl.fid, d)
        if mac is not None:
            self._sender_mac(h, fl.vlan, ip, mac, ttl)

    def _sender_mac(self, h: HostState, vlan: int, ip: IPAddr, mac: str, ttl: int) -> None:
        """The source MAC of a host's first frame in a flow, and whether its TTL was an initial one."""
        initial = ttl in INITIAL_TTLS
        prev = h.macs.get(mac)
        if prev is None:
            if len(h.macs) < 16:
                h.macs[mac] = initial
                ips = self.mac_ips.setdefault((vlan, mac), set())
                if len(ips) < 64:
                    ips.add(ip)
        elif initial and not prev:
            h.macs[mac] = True          # one frame with an initial TTL shows the host is on this link

    def _other_ip(self, src: bytes, dst: bytes, proto: int, vlan: int, buf: bytes, off: int, ttl: int,
                  ts: float, lt: int, frame: int) -> None:
        key = (src, dst, proto, vlan)
        if key in self.other:
            self.other[key] = ts
            return
        if len(self.other) > self.max_flows:
            self.other.clear()
        self.other[key] = ts
        hs = self._host(vlan, src, ts, frame)
        hd = self._host(vlan, dst, ts, frame)
        for h in (hs, hd):
            if h is not None:
                h.last = max(h.last, ts)
                h.dirty = True
        if hs is not None:
            self._first_from(Flow(key, vlan, "ip", src, dst, 0, 0, ts, 0), 0, buf, off, ttl, lt)

    def _new_flow(self, table: dict, transport: str, src: bytes, sp: int, dst: bytes, dp: int, vlan: int,
                  client_is_sender: bool, ts: float, frame: int) -> tuple[Flow, int]:
        st = self.stats
        live = self.fast.light_count()[0] if self.fast is not None else 0
        if len(self.active) + live >= self.max_flows:
            oldest = next(iter(self.active.values()), None)
            if live and (oldest is None or self.fast.oldest_light() < oldest.seq):
                self._fold_light(self.fast.evict_light())
            else:
                self._retire(oldest)  # type: ignore[arg-type]
            st.flows_evicted += 1
        pick = tcp_dissector_for if transport == "tcp" else udp_dissector_for
        cport, sport_ = (sp, dp) if client_is_sender else (dp, sp)
        cls = pick(sport_, -1)
        if cls is None and pick(cport, -1) is not None:
            # the protocol's port is on the initiator's side (a device on 502 that opened the connection):
            # the protocol server is the side of its well-known port, whatever the handshake said
            client_is_sender = not client_is_sender
            cls = pick(cport, -1)
        if client_is_sender:
            fl = Flow((src, sp, dst, dp, vlan), vlan, transport, src, dst, sp, dp, ts, frame)
        else:
            fl = Flow((dst, dp, src, sp, vlan), vlan, transport, dst, src, dp, sp, ts, frame)
        st.flows_created += 1
        self._host(vlan, src, ts, frame)
        self._host(vlan, dst, ts, frame)
        if cls is not None:
            fl.diss = cls()
        ent_fwd = self._register(table, fl)
        return ent_fwd if client_is_sender else (fl, 1)

    def _register(self, table: dict, fl: Flow) -> tuple[Flow, int]:
        """Put a flow in the tables (both directions), and in the C fast path's."""
        fl_key = fl.key
        ent_fwd = (fl, 0)
        table[fl_key] = ent_fwd
        table[(fl.sip, fl.sport, fl.cip, fl.cport, fl.vlan)] = (fl, 1)
        self.active[(fl.transport, fl_key)] = fl
        if self.fast is not None:
            fid = self.free_fids.pop() if self.free_fids else len(self.by_fid)
            if fid == len(self.by_fid):
                self.by_fid.append(fl)
            else:
                self.by_fid[fid] = fl
            fl.fid = fid
            fl.seq = self.fast.add(fid, 6 if fl.transport == "tcp" else 17, fl.vlan, fl.cip, fl.cport, fl.sip,
                                   fl.sport, fl.diss, fl.nseq)
        return ent_fwd

    # -- light flows (C only; see _fastscan.c) -----------------------------------------------------------
    def _adopt(self, transport: str, src: IPAddr, sp: int, dst: IPAddr, dp: int, vlan: int) -> tuple[Flow, int] | None:
        """A packet Python must see of a flow C keeps alone (a fragment, IPv6 extension headers): the flow
        becomes an ordinary one, with what C counted, as if it had been one from the start."""
        got = self.fast.adopt(6 if transport == "tcp" else 17, vlan, src, sp, dst, dp)
        if got is None:
            return None
        cip, cport, sip, sport, first, last, cnt, fin, seen0, seen1, rep_pk, rep_by, seq = got
        pk0, pk1, by0, by1, pl0, pl1, dk0, dk1 = cnt
        fl = Flow((cip, cport, sip, sport, vlan), vlan, transport, cip, sip, cport, sport, first, 0)
        # a side not yet "seen" (its first frames came from a group MAC) is looked at again, as in _first_from
        fl.c = [pk0 if seen0 else 0, pk1 if seen1 else 0, by0, by1, pl0, pl1, dk0, dk1,
                0 if seen0 else pk0, 0 if seen1 else pk1]
        fl.last, fl.fin, fl.rep_pk, fl.rep_by, fl.rep_pl = last, fin, rep_pk, rep_by, pl0 + pl1
        table = self.tcp if transport == "tcp" else self.udp
        self._register(table, fl)
        fl.seq = seq
        for side, seen, dk in ((0, seen0, dk0), (1, seen1, dk1)):
            self.fast.note(fl.fid, side, dk, last, fin)        # C's duplicate keys, last time and FIN bits
            if seen:
                self.fast.mark_seen(fl.fid, side)
        return table[(src, sp, dst, dp, vlan)]        # (a host talking to itself on one port: side 1, as there)

    def _light_event(self, kind: int, payload: tuple, ts: float, frame: int) -> None:
        if kind == EV_LIGHT_NEW:                    # the ends Python has no host for yet (None: it has)
            vlan, src, dst = payload
            if src is not None:
                self._host(vlan, src, ts, frame)
            if dst is not None:
                self._host(vlan, dst, ts, frame)
        elif kind == EV_LIGHT_FIRST:
            vlan, ip, mac, ttl = payload
            h = self.hosts.get((vlan, ip))
            if h is not None:
                h.sent = True
                h.dirty = True
                if not int(mac[:2], 16) & 1:
                    self._sender_mac(h, vlan, ip, mac, ttl)
        elif kind == EV_LIGHT_END:
            self._fold_light(payload)

    def _fold_light(self, folded: tuple) -> None:
        """Pipeline._fold for light flows (one, or the sum of one conversation's): the hosts' last time, the
        new packets into the pending comms."""
        vlan, cip, sip, proto, sport, d_pk, d_by, first, last, hosts_last = folded
        self._hosts_seen_until(vlan, cip, sip, hosts_last)
        if not d_pk or not (_is_host_ip(cip) and _is_host_ip(sip)) or _is_directed_broadcast(sip):
            return
        transport = "tcp" if proto == 6 else "udp"
        self._add_comm((vlan, cip, sip, transport, sport, f"{transport}/{sport}"), d_pk, d_by, first, last, {})

    def _light_stats(self) -> None:
        if self.fast is not None:
            total = self.fast.light_count()[1]
            self.stats.flows_created += total - self._light_created
            self._light_created = total

    def _new_udp(self, src: bytes, sp: int, dst: bytes, dp: int, vlan: int, ts: float, frame: int) -> tuple[Flow, int]:
        return self._new_flow(self.udp, "udp", src, sp, dst, dp, vlan, orient(sp, dp, False, False), ts, frame)

    def _tcp_control(self, ent: tuple[Flow, int] | None, src: bytes, sp: int, dst: bytes, dp: int, vlan: int,
                     flags: int, seq: int, buf: bytes, off: int, ttl: int, ts: float, frame: int,
                     lt: int) -> tuple[Flow, int]:
        syn, ack, fin, rst = flags & 2, flags & 16, flags & 1, flags & 4
        if ent is not None and syn and not ack:
            fl = ent[0]
            if self._ended_or_spoke(fl):             # port reuse: a new connection on an old key
                self._retire(fl)
                ent = None
        if ent is None:
            ent = self._new_flow(self.tcp, "tcp", src, sp, dst, dp, vlan,
                                 orient(sp, dp, bool(syn and not ack), bool(syn and ack)), ts, frame)
        fl, d = ent
        if syn:
            fl.nseq[d] = (seq + 1) & 0xFFFFFFFF
        if fin:
            fl.fin |= 1 << d
        if rst:
            fl.fin |= 3
        return ent

    def _ended_or_spoke(self, fl: Flow) -> bool:
        if fl.fin or fl.c[4] or fl.c[5]:
            return True
        if fl.fid >= 0 and self.fast is not None:
            c = self.fast.counters(fl.fid)
            return bool(c[4] or c[5] or self.fast.state(fl.fid)[1])
        return False

    def _retire(self, fl: Flow) -> None:
        """Remove a flow: report what it has not reported yet, then forget it."""
        self._fold(fl)
        table = self.tcp if fl.transport == "tcp" else self.udp
        table.pop(fl.key, None)
        table.pop((fl.sip, fl.sport, fl.cip, fl.cport, fl.vlan), None)
        self.active.pop((fl.transport, fl.key), None)
        if fl.fid >= 0 and self.fast is not None:
            self.fast.remove(fl.fid, 6 if fl.transport == "tcp" else 17, fl.vlan, fl.cip, fl.cport, fl.sip, fl.sport)
            self.by_fid[fl.fid] = None
            self.free_fids.append(fl.fid)
            fl.fid = -1

    def _sweep(self, now: float) -> None:
        self.last_sweep = now
        fast = self.fast
        if fast is not None:
            # the C table knows every flow's last packet and FIN/RST state (Python's packets are noted there)
            dead = [fl for fid in fast.idle(now, TCP_TIMEOUT, UDP_TIMEOUT, CLOSED_TIMEOUT)
                    if (fl := self.by_fid[fid]) is not None]
        else:
            dead = [fl for fl in self.active.values()
                    if now - fl.last > (CLOSED_TIMEOUT if fl.fin == 3 else
                                        UDP_TIMEOUT if fl.transport == "udp" else TCP_TIMEOUT)]
        for fl in dead:
            self._retire(fl)
        self.stats.flows_expired += len(dead)
        if fast is not None:
            n, unsummed = fast.expire_light(now, TCP_TIMEOUT, UDP_TIMEOUT, CLOSED_TIMEOUT)
            for folded in unsummed:
                self._fold_light(folded)
            self.stats.flows_expired += n
        if len(self.other) > 4096:
            self.other = {k: t for k, t in self.other.items() if now - t < UDP_TIMEOUT}

    # -- dissector results ------------------------------------------------------------------------------
    def _ip(self, raw: IPAddr) -> str:
        s = self.ipstr.get(raw)
        if s is None:
            if isinstance(raw, int):
                s = socket.inet_ntoa(raw.to_bytes(4, "big"))
            else:
                s = socket.inet_ntop(socket.AF_INET6, raw)
            if len(self.ipstr) < 100_000:
                self.ipstr[raw] = s
        return s

    def _drain(self, fl: Flow, diss: Dissector, status: int, frame: int, ts: float) -> None:
        acc = self.acc
        if diss.spec_changed:
            diss.spec_changed = False
            if fl.fid >= 0 and self.fast is not None:
                self.fast.set_spec(fl.fid, diss.fast_spec)
        proto = diss.protocol.value
        if diss.out:
            cip, sip = self._ip(fl.cip), self._ip(fl.sip)
            for f in diss.out:
                subj = Subject(fl.vlan, sip if f.who == Who.SERVER else cip, None, f.component)
                acc.fact(subj, f.field, f.value, f.protocol or proto, f.message, f.frame, f.ts)
            diss.out.clear()
            if diss.confirmed and fl.proto != diss.flow_protocol:
                fl.proto = diss.flow_protocol
        if diss.anomalies:
            for a in diss.anomalies:
                self._anomaly(proto, a.kind, a.frame, a.ts)
            diss.anomalies.clear()
        if status == FATAL:
            self._anomaly(proto, f"detached: {diss.fatal_reason}", frame, ts)
            self._absorb(fl, diss)
            fl.decoded_extra += diss.decoded
            fl.detached = diss.fatal_reason
            fl.diss = None
            if fl.fid >= 0 and self.fast is not None:
                self.fast.set_mode(fl.fid, MODE_OFF)
            self.stats.dissector_detached += 1

    def _dissector_error(self, fl: Flow, diss: Dissector, error: str, frame: int, ts: float) -> None:
        diss.out.clear()
        diss.anomalies.clear()
        diss.fatal_reason = f"dissector-error {error}"
        self._drain(fl, diss, FATAL, frame, ts)

    def _decode_anomaly(self, protocol: str, kind: str, frame: int, ts: float) -> None:
        """A frame that cannot be assigned to a flow: the first shard reports it (once, not per worker)."""
        if self.primary:
            self._anomaly(protocol, kind, frame, ts)

    def _anomaly(self, protocol: str, kind: str, frame: int, ts: float) -> None:
        self.stats.anomalies += 1
        self.acc.anomaly(protocol, kind, frame, ts)

    # -- batches ----------------------------------------------------------------------------------------
    def _absorb(self, fl: Flow, diss: Dissector) -> None:
        """Frames the C fast path counted with the dissector's spec go back to the dissector's counters."""
        if fl.fid >= 0 and self.fast is not None:
            c0, c1, dec = self.fast.spec_counts(fl.fid)
            if dec:
                diss.absorb(c0, c1, dec)

    def _fold(self, fl: Flow) -> None:
        """Move a flow's unreported counters into the pending comm/traffic deltas."""
        if fl.diss is not None:
            self._absorb(fl, fl.diss)
        c = fl.c
        pk, by, pl = c[0] + c[1] + c[8] + c[9], c[2] + c[3], c[4] + c[5]
        if fl.fid >= 0 and self.fast is not None:
            fpk0, fpk1, fby0, fby1, fpl0, fpl1, flast = self.fast.counters(fl.fid)
            pk += fpk0 + fpk1
            by += fby0 + fby1
            pl += fpl0 + fpl1
            if flast > fl.last:
                fl.last = flast
        diss = fl.diss
        dec = fl.decoded_extra + (diss.decoded if diss is not None else 0)
        if diss is not None and diss.confirmed and fl.proto != diss.flow_protocol:
            fl.proto = diss.flow_protocol
        d_pk, d_by, d_pl, d_dec = pk - fl.rep_pk, by - fl.rep_by, pl - fl.rep_pl, dec - fl.rep_dec
        fl.rep_pk, fl.rep_by, fl.rep_pl, fl.rep_dec = pk, by, pl, dec
        self._hosts_seen_until(fl.vlan, fl.cip, fl.sip, fl.last)
        if not d_pk:
            return
        if fl.ot or fl.proto:
            label = fl.proto or OT_PORTS.get(fl.sport, f"{fl.transport}/{fl.sport}")
            t = self.pending_traffic.setdefault(label, [0, 0, 0])
            t[0] += d_pk
            t[1] += d_pl
            t[2] += min(d_dec, d_pl) if d_dec > 0 else 0
        if not (_is_host_ip(fl.cip) and _is_host_ip(fl.sip)) or _is_directed_broadcast(fl.sip):
            return                                   # broadcast/multicast "peers" are not assets
        proto = fl.proto or f"{fl.transport}/{fl.sport}"
        self._add_comm((fl.vlan, fl.cip, fl.sip, fl.transport, fl.sport, proto), d_pk, d_by, fl.first, fl.last,
                       diss.profile if diss is not None else {})
        if diss is not None:
            diss.profile = {}

    def _hosts_seen_until(self, vlan: int, a: IPAddr, b: IPAddr, last: float) -> None:
        """Both ends of a conversation were seen until ``last`` (hosts this sensor tracks)."""
        for ip in (a, b):
            h = self.hosts.get((vlan, ip))
            if h is not None and last > h.last:
                h.last = last
                h.dirty = True

    def _add_comm(self, key: tuple, d_pk: int, d_by: int, first: float, last: float, profile: dict) -> None:
        ent = self.pending_comms.get(key)
        if ent is None:
            self.pending_comms[key] = [d_pk, d_by, first, last, dict(profile)]
        else:
            ent[0] += d_pk
            ent[1] += d_by
            ent[2] = min(ent[2], first)
            ent[3] = max(ent[3], last)
            for k, v in profile.items():
                ent[4][k] = ent[4].get(k, 0) + v

    def snapshot(self) -> Snapshot:
        """Everything observed since the previous snapshot (flows folded, caches drained)."""
        for fl in self.active.values():
            self._fold(fl)
        if self.fast is not None:
            for folded in self.fast.fold_light():
                self._fold_light(folded)
            self._light_stats()
        if self._refused is not None:
            self._anomaly("capture", "host-table-full", *self._refused)
            self._refused = None
        acc = self.acc
        snap = Snapshot(acc.source, acc.frame_evidence, acc.facts, acc.bindings, acc.anomalies)
        acc.facts, acc.bindings, acc.anomalies = {}, {}, {}
        ip = self._ip
        for (vlan, raw), h in self.hosts.items():
            if h.dirty:
                h.dirty = False
                snap.hosts[(vlan, ip(raw))] = [h.first, h.last, h.sent, dict(h.macs), _is_directed_broadcast(raw)]
        snap.mac_ips = {k: {ip(r) for r in v} for k, v in self.mac_ips.items()}
        snap.l2hosts = self.l2.drain_hosts()
        snap.comms = {(vlan, ip(cip), ip(sip), transport, port, proto): v
                      for (vlan, cip, sip, transport, port, proto), v in self.pending_comms.items()}
        self.pending_comms = {}
        snap.traffic, self.pending_traffic = self.pending_traffic, {}
        st = self.stats
        snap.stats = {"packets": st.packets, "bytes": st.bytes, "flows": st.flows_created,
                      "span_duplicates": st.span_duplicates, "ip_fragments": st.ip_fragments,
                      "anomalies": st.anomalies, "flows_evicted": st.flows_evicted}
        return snap

    def cut_batch(self, batch_id: str) -> Batch:
        """Everything observed since the previous batch, as a contract batch."""
        return build_batch(self.snapshot(), self.sensor, batch_id)
