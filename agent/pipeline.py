"""The capture loop: frames -> flows -> dissectors -> observations.

The pipeline only orchestrates four parts, each in its own module:

  decoder (decode.py) -> flow table (flowtable.py) -> dissector host (dissector_host.py) -> accumulators
  (accumulate.py), with the hosts it tracks in hosts.py.

With the C fast path built (agent/_fastscan.c, the default), ``CFlowTable.fast.scan`` walks Ethernet
chunks itself: it counts established-flow packets, feeds their dissectors and keeps light flows, and stops
at each record Python must see (a new flow, SYN, the first frame from a side, a fragment, a layer-2 frame),
which goes through the same Python path as every frame of the pure-Python backend. What C hands back
(payload to reassemble, dissectors to drain, light-flow news) comes as named ``Event`` records.

Never crash: a malformed frame is a counted anomaly; a dissector that raises is detached from its flow
and counted as ``dissector-error`` (a bug to fix, with the frame number as evidence).
"""

from __future__ import annotations

from otscope.agent.accumulate import Accumulator, TrafficAccumulator
from otscope.agent.decode import IP, LINKTYPE_ETHERNET, TCP, UDP, Decoder, Packet, mac_from
from otscope.agent.dissector_host import DissectorHost
from otscope.agent.flows import OT_PORTS, SERVER_PORTS, Flow
from otscope.agent.flowtable import (DATAGRAM_PORTS, DUPLICATE, UDP_TIMEOUT, CFlowTable, EventKind, FlowTable, FlowTotals,
                                     PyFlowTable, c_table, python_ports, shard_of)
from otscope.agent.hosts import MAX_HOSTS, HostTable, IpNames
from otscope.agent.l2 import L2Dispatcher
from otscope.agent.pcapio import LE_RECORDS
from otscope.agent.oshint import OsHints
from otscope.agent.peek import Peeks
from otscope.dissectors.oshint.rules import normalize
from otscope.agent.snapshot import NOT_DECODED, TUNNEL, Snapshot, build_batch
from otscope.agent.stats import Stats
from otscope.contract import Batch
from otscope.dissectors.base import Dissector
from otscope.dissectors.registry import tcp_dissector_for, tcp_ports, udp_dissector_for, udp_ports

__all__ = ["Pipeline", "Flow", "OT_PORTS", "SERVER_PORTS", "shard_of", "pick_dissector"]   # (where they were)

SWEEP_EVERY = 30.0
MAX_OTHER_IP = 4096          # (address pair, protocol) seen for non-TCP/UDP IP kept between sweeps


def pick_dissector(transport: str, port: int) -> type[Dissector] | None:
    """The registry's dissector for a server port (looked up here at each call: tests patch these names)."""
    return (tcp_dissector_for if transport == "tcp" else udp_dissector_for)(port, -1)


class Pipeline:
    def __init__(self, sensor: str = "replay", *, max_flows: int = 200_000, dup_window: float = 0.05,
                 live: bool = False, fast: bool = True, shard: tuple[int, int] = (0, 1),
                 max_hosts: int = MAX_HOSTS) -> None:
        self.sensor = sensor
        self.live = live
        self.max_flows = max_flows
        self.stats = Stats()
        self.acc = Accumulator("", frame_evidence=not live)
        self.traffic = TrafficAccumulator()
        self.l2 = L2Dispatcher(self.acc)
        self.host_table = HostTable(max_hosts)
        self.names = IpNames()
        self.primary = shard[0] == 0                    # frames no flow owns (L2, broken) are the first shard's
        self.sharded = shard[1] > 1
        self.decoder = Decoder(self.stats, self._decode_anomaly, self.primary)
        table = c_table(dup_window, shard) if fast else None
        if table is not None:
            self.table: FlowTable = CFlowTable(table, self.stats, self.host_table, pick_dissector, self._folded,
                                               self._light_folded, max_flows=max_flows, dup_window=dup_window,
                                               shard=shard, python_ports=python_ports(tcp_ports(), udp_ports()))
        else:
            self.table = PyFlowTable(self.stats, self.host_table, pick_dissector, self._folded, max_flows=max_flows,
                                     dup_window=dup_window, shard=shard)
        self.fast = self.table.fast
        self.l2.fast = self.fast if self.primary else None   # C counts watched L2 frames (PN-RT cyclic) itself
        self.dissectors = DissectorHost(self.acc, self.stats, self.table, self.names, self._anomaly)
        self.peeks = Peeks(self.fast, self.dissectors, pick_dissector) if self.fast is not None else None
        self.oshints = OsHints(self.acc, self.names)
        self.other: dict[tuple, float] = {}              # (src, dst, protocol, vlan) of other IP -> last seen
        self.events: list = []
        self.frame = 0
        self.last_sweep = 0.0
        self.now = 0.0

    @property
    def active(self) -> dict[tuple, Flow]:
        return self.table.active

    @property
    def hosts(self) -> dict:
        return self.host_table.hosts

    # -- sources ---------------------------------------------------------------------------------------
    def start_source(self, name: str) -> None:
        """A new capture file: frame numbers restart, evidence names this file."""
        self.acc.source = name
        self.frame = 0

    # -- the loop --------------------------------------------------------------------------------------
    def feed_chunk(self, chunk: tuple) -> None:
        """Process a chunk of records: the C fast path takes what it can, Python the rest."""
        lt, rec, scale, buf, pos, end, _n = chunk
        if self.fast is None or lt != LINKTYPE_ETHERNET:
            self._feed_py(lt, rec, scale, buf, pos, end)
        else:
            self._feed_fast(lt, rec, scale, buf, pos, end)
        if self.now - self.last_sweep > SWEEP_EVERY:
            self._sweep(self.now)

    def _feed_fast(self, lt: int, rec, scale: float, buf: bytes, pos: int, end: int) -> None:  # type: ignore[no-untyped-def]
        """An Ethernet chunk through C's scan(); each record it stops at goes through the Python path."""
        st = self.stats
        events = self.events
        scan = self.fast.scan
        le = rec is LE_RECORDS
        while pos < end:
            got = scan(buf, pos, end, le, scale, self.frame, events)
            pos, self.frame = got.pos, got.frame
            st.packets += got.packets
            st.bytes += got.bytes
            st.span_duplicates += got.dups
            if got.last > self.now:
                self.now = got.last
            if events:
                self._dispatch(events)
                events.clear()
            if pos < end and not got.peeked:               # one record the fast path left to Python
                nxt = pos + 16 + rec(buf, pos)[2]
                self._feed_py(lt, rec, scale, buf, pos, nxt)
                pos = nxt

    def _feed_py(self, lt: int, rec, scale: float, buf: bytes, pos: int, end: int) -> None:  # type: ignore[no-untyped-def]
        """Every kind of frame, in Python: decoder -> flow table -> dissector host."""
        dec = self.decoder
        tcp, udp = self._tcp, self._udp
        for pkt in dec.packets(lt, rec, scale, buf, pos, end, self.frame):
            kind = pkt.kind
            if kind is TCP:
                tcp(pkt)
            elif kind is UDP:
                udp(pkt)
            elif kind is IP:
                if not self.sharded or self.table.owns(pkt):
                    self._other_ip(pkt)
            elif self.primary:
                self.stats.non_ip_frames += 1
                if pkt.lt == LINKTYPE_ETHERNET:
                    self.l2.frame(pkt.et, pkt.buf, pkt.off, pkt.l3, pkt.stop, pkt.vlan, pkt.frame, pkt.ts)
        self.stats.packets += dec.frame - self.frame      # every frame read, whoever owns it
        self.stats.bytes += dec.nbytes
        self.frame = dec.frame
        if dec.ts > self.now:
            self.now = dec.ts

    def _tcp(self, pkt: Packet) -> None:
        table = self.table
        if self.sharded and not table.owns(pkt):
            return
        fl, d = table.tcp_flow(pkt)
        p0, iend = pkt.p0, pkt.iend
        noted = table.note(fl, d, pkt, iend - p0)
        if noted:
            if noted is DUPLICATE:
                return
            self._first_from(fl, d, pkt)
        diss = fl.diss
        if iend > p0 and diss is not None:
            self.dissectors.segment(fl, diss, d, pkt.seq, pkt.buf[p0:iend], pkt.ts, pkt.frame)

    def _udp(self, pkt: Packet) -> None:
        table = self.table
        if self.sharded and not table.owns(pkt):
            return
        fl, d = table.udp_flow(pkt)
        p0, iend = pkt.p0, pkt.iend
        noted = table.note(fl, d, pkt, iend - p0)
        if noted:
            if noted is DUPLICATE:
                return
            self._first_from(fl, d, pkt)
        if iend > p0:
            diss = fl.diss
            if diss is not None:
                self.dissectors.datagram(fl, diss, d, pkt.buf[p0:iend], pkt.ts, pkt.frame)
            elif pkt.sp in DATAGRAM_PORTS and pkt.dp in DATAGRAM_PORTS:
                self.l2.datagram(pkt.sp, pkt.dp, pkt.buf[p0:iend], self.names(pkt.src), pkt.vlan, pkt.frame, pkt.ts)

    def _dispatch(self, events: list) -> None:
        """What the C fast path handed back, in capture order (see flowtable.EventKind)."""
        flow = self.table.flow  # type: ignore[attr-defined]
        for ev in events:
            if ev.kind >= EventKind.LIGHT_NEW:
                self._light_event(ev)
                continue
            fl = flow(ev.flow)
            if fl is not None:
                self.dissectors.event(fl, ev)

    # -- hosts -----------------------------------------------------------------------------------------
    def _first_from(self, fl: Flow, d: int, pkt: Packet) -> None:
        """The first frame from one end of a flow: that end is a sender; note its MAC and TTL."""
        ip = fl.cip if d == 0 else fl.sip
        h = self.host_table.sender(fl.vlan, ip)
        if h is None:
            return
        mac = mac_from(pkt.buf, pkt.off, pkt.lt)
        if mac is not None and int(mac[:2], 16) & 1:
            self.table.hold(fl, d)         # a group address as source is bogus: look again at the next frame
            return
        self.table.mark_seen(fl, d)
        if mac is not None:
            self.host_table.sender_mac(h, fl.vlan, ip, mac, pkt.ttl)
        syn = None
        if pkt.kind is TCP and pkt.flags & 2 and pkt.l4 + 20 <= pkt.p0 <= pkt.iend:
            l4 = pkt.l4                                  # a SYN or SYN-ACK: its window and options (OS hint)
            syn = normalize(pkt.buf[l4 + 14:l4 + 16] + pkt.buf[l4 + 20:pkt.p0])
        self.oshints.first_frame(fl.vlan, ip, pkt.ttl, syn, pkt.flags & 16, pkt.frame, pkt.ts)

    def _other_ip(self, pkt: Packet) -> None:
        """IP that is neither TCP nor UDP (or a non-first fragment): its ends are hosts, the sender sent."""
        src, dst, vlan, ts = pkt.src, pkt.dst, pkt.vlan, pkt.ts
        key = (src, dst, pkt.proto, vlan)
        if key in self.other:
            self.other[key] = ts
            return
        if len(self.other) > self.max_flows:
            self.other.clear()
        self.other[key] = ts
        hs = self.host_table.host(vlan, src, ts, pkt.frame)
        hd = self.host_table.host(vlan, dst, ts, pkt.frame)
        self.host_table.touch(hs, ts)
        self.host_table.touch(hd, ts)
        if hs is not None:
            h = self.host_table.sender(vlan, src)
            mac = mac_from(pkt.buf, pkt.off, pkt.lt)
            if h is not None and mac is not None and not int(mac[:2], 16) & 1:
                self.host_table.sender_mac(h, vlan, src, mac, pkt.ttl)

    def _light_event(self, ev) -> None:  # type: ignore[no-untyped-def]
        rec = ev.payload
        if ev.kind == EventKind.LIGHT_NEW:           # the ends Python has no host for yet (None: it has)
            if rec.src is not None:
                self.host_table.host(rec.vlan, rec.src, ev.ts, ev.frame)
            if rec.dst is not None:
                self.host_table.host(rec.vlan, rec.dst, ev.ts, ev.frame)
        elif ev.kind == EventKind.LIGHT_FIRST:
            h = self.host_table.sender(rec.vlan, rec.ip)
            if h is not None and not int(rec.mac[:2], 16) & 1:
                self.host_table.sender_mac(h, rec.vlan, rec.ip, rec.mac, rec.ttl)
                self.oshints.first_frame(rec.vlan, rec.ip, rec.ttl, rec.syn, rec.ack, ev.frame, ev.ts, rec.hint)
        elif ev.kind == EventKind.LIGHT_PEEK:
            self.peeks.event(ev)  # type: ignore[union-attr]
        elif ev.kind == EventKind.LIGHT_MEMO:
            self.peeks.prefix(ev)  # type: ignore[union-attr]
        elif ev.kind == EventKind.LIGHT_END:
            self._light_folded(rec)

    # -- totals ----------------------------------------------------------------------------------------
    def _folded(self, fl: Flow, t: FlowTotals) -> None:
        """A Python flow's new totals: its hosts' last time, the conversation and traffic sums."""
        self.host_table.seen_until(t.vlan, t.cip, t.sip, t.last)
        if t.packets and self.traffic.add_flow(t) and fl.diss is not None:
            fl.diss.profile = {}

    def _light_folded(self, t) -> None:  # type: ignore[no-untyped-def]
        """A light flow's new totals (LightTotals from C: one flow, or one conversation's sum)."""
        self.host_table.seen_until(t.vlan, t.cip, t.sip, t.hosts_last)
        self.traffic.add_light(t, self.peeks.label_of(t.label) if t.label else "")  # type: ignore[union-attr]

    def _sweep(self, now: float) -> None:
        self.last_sweep = now
        self.table.expire(now)
        if self.peeks is not None:
            self.peeks.sweep(now)
        if len(self.other) > MAX_OTHER_IP:
            self.other = {k: t for k, t in self.other.items() if now - t < UDP_TIMEOUT}

    # -- anomalies -------------------------------------------------------------------------------------
    def _decode_anomaly(self, protocol: str, kind: str, frame: int, ts: float) -> None:
        """A frame that cannot be assigned to a flow: the first shard reports it (once, not per worker)."""
        if self.primary:
            self._anomaly(protocol, kind, frame, ts)

    def _anomaly(self, protocol: str, kind: str, frame: int, ts: float) -> None:
        self.stats.anomalies += 1
        self.acc.anomaly(protocol, kind, frame, ts)

    # -- batches ----------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Everything observed since the previous snapshot (flows folded, caches drained)."""
        if self.fast is not None:
            self.oshints.fold(self.fast.first_times())   # (before fold_light starts C's next snapshot)
        if self.peeks is not None:
            self.peeks.collect()                          # the facts of later flows that matched a peek memo
        self.table.fold_all()
        refused = self.host_table.take_refused()
        if refused is not None:
            self._anomaly("capture", "host-table-full", *refused)
        self.stats.non_ip_frames += self.l2.flush()      # what the layer-2 frame counters summarise
        acc = self.acc
        snap = Snapshot(acc.source, acc.frame_evidence, acc.facts, acc.bindings, acc.anomalies, actions=acc.actions)
        acc.facts, acc.bindings, acc.anomalies, acc.actions = {}, {}, {}, {}
        snap.hosts, snap.mac_ips = self.host_table.drain(self.names)
        snap.l2hosts = self.l2.drain_hosts()
        comms, snap.traffic = self.traffic.drain()
        name = self.names
        snap.comms = {(vlan, name(cip), name(sip), transport, port, proto): v
                      for (vlan, cip, sip, transport, port, proto), v in comms.items()}
        st = self.stats
        snap.stats = {"packets": st.packets, "bytes": st.bytes, "flows": st.flows_created,
                      "span_duplicates": st.span_duplicates, "ip_fragments": st.ip_fragments,
                      "anomalies": st.anomalies, "flows_evicted": st.flows_evicted}
        # frames of link types (or link-layer contents) nothing decodes, by name: reported, never silently empty
        snap.stats.update({f"{NOT_DECODED}{k}"[:64]: n for k, n in sorted(st.link_unsupported.items())[:32]})
        snap.stats.update({f"{TUNNEL}{k}": n for k, n in sorted(st.tunnels.items())})
        return snap

    def cut_batch(self, batch_id: str) -> Batch:
        """Everything observed since the previous batch, as a contract batch."""
        return build_batch(self.snapshot(), self.sensor, batch_id)
