"""The dissector host: feeds a flow's dissector, drains what it found, detaches it when it gives up.

Never crash: a dissector that raises is detached from its flow and counted as ``dissector-error`` (a bug to
fix, with the frame number as evidence); one that returns FATAL is detached with its own reason. Facts go to
the accumulator with the subject of the side they describe, anomalies are counted. The flow table's backend
hears what it must know of a dissector (its steady-state spec, reassembly mode, detachment; see flowtable.py).
"""

from __future__ import annotations

from collections.abc import Callable

from otscope.agent.accumulate import Accumulator
from otscope.agent.flows import Flow, tcp_unordered
from otscope.agent.flowtable import EventKind, FlowTable
from otscope.agent.hosts import IpNames
from otscope.agent.stats import Stats
from otscope.contract import ACTION_FIELDS, Subject
from otscope.dissectors.base import DONE, FATAL, Dissector, Who

MAX_SUBJECTS = 65536         # Subject objects kept for reuse (emptied when full)


class DissectorHost:
    def __init__(self, acc: Accumulator, stats: Stats, table: FlowTable, names: IpNames,
                 anomaly: Callable[[str, str, int, float], None]) -> None:
        self.acc = acc
        self.stats = stats
        self.table = table
        self.names = names
        self.anomaly = anomaly
        self._subjects: dict[tuple, Subject] = {}

    # -- feeding ----------------------------------------------------------------------------------------
    def datagram(self, fl: Flow, diss: Dissector, d: int, payload: bytes, ts: float, frame: int) -> None:
        spend = self.table.spend(fl, d, len(payload)) if fl.peek is not None else 1
        if not spend:
            return
        try:
            r = diss.feed(payload, d, ts, frame)
            if spend == 2 and r != FATAL:
                r = DONE                          # its peek budget is spent both ways: all it gets of the flow
        except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop the capture
            self.error(fl, diss, type(exc).__name__, frame, ts)
            return
        if r or diss.out or diss.anomalies:
            self.drain(fl, diss, r, frame, ts)

    def segment(self, fl: Flow, diss: Dissector, d: int, seq: int, payload: bytes, ts: float, frame: int) -> None:
        """TCP payload: in order straight to the dissector, else through reassembly (flows.tcp_unordered);
        a peeked flow's (FlowEntry.peek) by the peek rule instead."""
        if fl.peek is not None:
            self._peek_segment(fl, diss, d, seq, payload, ts, frame)
            return
        try:
            nseq = fl.nseq
            if seq == nseq[d] and fl.ooo is None:
                nseq[d] = (seq + len(payload)) & 0xFFFFFFFF
                r = diss.feed(payload, d, ts, frame)
            else:
                r = tcp_unordered(fl, d, seq, payload, ts, frame)[0]
                self.table.set_mode(fl)
        except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop the capture
            self.error(fl, diss, type(exc).__name__, frame, ts)
            return
        if r or diss.out or diss.anomalies:
            self.drain(fl, diss, r, frame, ts)

    def _peek_segment(self, fl: Flow, diss: Dissector, d: int, seq: int, payload: bytes, ts: float,
                      frame: int) -> None:
        """The peek rule (the same as _fastscan.c light_peek, which applies it to light flows): in-order data
        only, a retransmission is skipped, a gap ends that side's peek (no reassembly for a few first bytes);
        whole segments while the side's budget lasts; both budgets spent: the dissector is done."""
        nseq = fl.nseq
        exp = nseq[d]
        if exp is not None and seq != exp:
            if (seq - exp) & 0xFFFFFFFF >= 0x80000000:
                return                                   # old data again
            fl.peek[d] = 0                               # type: ignore[index] - a gap: this side's peek ends
            return
        spend = self.table.spend(fl, d, len(payload))
        if not spend:
            return
        nseq[d] = (seq + len(payload)) & 0xFFFFFFFF
        try:
            r = diss.feed(payload, d, ts, frame)
            if spend == 2 and r != FATAL:
                r = DONE                                 # its peek budget is spent both ways
        except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop the capture
            self.error(fl, diss, type(exc).__name__, frame, ts)
            return
        if r or diss.out or diss.anomalies:
            self.drain(fl, diss, r, frame, ts)

    def event(self, fl: Flow, ev) -> None:  # type: ignore[no-untyped-def]
        """What the C fast path handed back for a flow (an Event of kind PAYLOAD, UDP, DRAIN or ERROR)."""
        diss = fl.diss
        if diss is None:
            return
        kind = ev.kind
        if kind == EventKind.DRAIN:
            self.drain(fl, diss, ev.payload, ev.frame, ev.ts)
        elif kind == EventKind.ERROR:
            self.error(fl, diss, ev.payload, ev.frame, ev.ts)
        elif kind == EventKind.UDP:
            self.datagram(fl, diss, ev.side, ev.payload, ev.ts, ev.frame)
        else:                                     # PAYLOAD: first data without a handshake, out of order
            try:
                r = tcp_unordered(fl, ev.side, ev.seq, ev.payload, ev.ts, ev.frame)[0]
                self.table.set_mode(fl)
            except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop the capture
                self.error(fl, diss, type(exc).__name__, ev.frame, ev.ts)
                return
            if r or diss.out or diss.anomalies:
                self.drain(fl, diss, r, ev.frame, ev.ts)

    # -- results ----------------------------------------------------------------------------------------
    def drain(self, fl: Flow, diss: Dissector, status: int, frame: int, ts: float) -> None:
        if diss.spec_changed:
            diss.spec_changed = False
            self.table.set_spec(fl, diss.fast_spec)
        proto = diss.protocol.value
        if diss.out:
            self._facts(fl, diss, proto)
        if diss.anomalies:
            for a in diss.anomalies:
                self.anomaly(proto, a.kind, a.frame, a.ts)
            diss.anomalies.clear()
        if status == FATAL:
            self.detach(fl, diss, proto, frame, ts)
        elif status == DONE:
            self.finish(fl, diss)

    def _subject(self, vlan: int, ip: str, component: str | None) -> Subject:
        """One Subject object per (vlan, address, component): the accumulator's keys then compare by identity
        (IT flows are many and short, each adds the same few facts about the same hosts)."""
        key = (vlan, ip, component)
        subj = self._subjects.get(key)
        if subj is None:
            if len(self._subjects) >= MAX_SUBJECTS:
                self._subjects.clear()
            subj = self._subjects[key] = Subject(vlan, ip, None, component)
        return subj

    def memo_facts(self, vlan: int, cip, sip, proto: str, facts, frame: int, ts: float) -> None:  # type: ignore[no-untyped-def]
        """Facts a dissector gave for a flow, again for a later flow with the same ends (agent/peek.py Memo), with
        that flow's frame and time. (No action facts: a memo is never made of a flow that had any.)"""
        acc = self.acc
        c, s = self.names(cip), self.names(sip)
        for f in facts:
            subj = self._subject(vlan, s if f.who == Who.SERVER else c, f.component)
            acc.fact(subj, f.field, f.value, f.protocol or proto, f.message, frame, ts)

    def _facts(self, fl: Flow, diss: Dissector, proto: str) -> None:
        acc = self.acc
        cip, sip = self.names(fl.cip), self.names(fl.sip)
        subject = self._subject
        for f in diss.out:
            subj = subject(fl.vlan, sip if f.who == Who.SERVER else cip, f.component)
            acc.fact(subj, f.field, f.value, f.protocol or proto, f.message, f.frame, f.ts)
            if f.field in ACTION_FIELDS:     # each occurrence, with the other end of the flow (the client)
                other = Subject(fl.vlan, cip if f.who == Who.SERVER else sip)
                acc.action(subj, other, f.field, f.value, f.protocol or proto, f.message, f.frame, f.ts)
        diss.out.clear()
        if diss.confirmed and fl.proto != diss.flow_protocol:
            fl.proto = diss.flow_protocol       # what the flow carries (tcp/102: s7comm, s7comm-plus, cotp, mms)

    def detach(self, fl: Flow, diss: Dissector, proto: str, frame: int, ts: float) -> None:
        """The dissector gave up (or raised): its counts stay with the flow, nothing more is fed."""
        self.anomaly(proto, f"detached: {diss.fatal_reason}", frame, ts)
        self.table.absorb(fl, diss)
        fl.decoded_extra += diss.decoded
        fl.detached = diss.fatal_reason
        fl.diss = None
        self.table.detach(fl)
        self.stats.dissector_detached += 1

    def finish(self, fl: Flow, diss: Dissector) -> None:
        """The dissector has what it wants of the flow (DONE): detached with no anomaly, the flow keeps its
        label and its decoded bytes; C (or the Python table) counts the rest of its packets alone."""
        if diss.confirmed and fl.proto != diss.flow_protocol:
            fl.proto = diss.flow_protocol
        self.table.absorb(fl, diss)
        fl.decoded_extra += diss.decoded
        fl.diss = None
        self.table.detach(fl)
        self.stats.dissector_done += 1

    def error(self, fl: Flow, diss: Dissector, error: str, frame: int, ts: float) -> None:
        diss.out.clear()
        diss.anomalies.clear()
        diss.fatal_reason = f"dissector-error {error}"
        self.drain(fl, diss, FATAL, frame, ts)
