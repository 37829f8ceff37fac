"""Peeked IT flows: the first bytes of a light flow on a port an IT dissector claims with a byte budget.

The C fast path keeps such flows light (no Python flow, C counts them) and hands Python only their first
in-order payload per direction, as ``LIGHT_PEEK`` events (agent/_fastscan.c light_peek), until the spec's
``FlowEntry.peek`` budget is spent. Here each peeked flow has a dissector and a stand-in ``Flow`` (no flow id:
the dissector host's drain, detach and finish work on it unchanged). When the dissector is done (DONE, FATAL,
an error, or both budgets spent) C is told to stop (``peek_set``), and its confirmed protocol becomes the light
flow's conversation label. The pure-Python backend does the same with ordinary flows and the same budget
(flowtable.PyFlowTable.spend), so both backends report the same facts, labels and counts.
"""

from __future__ import annotations

from collections.abc import Callable

from otscope.agent.dissector_host import DissectorHost
from otscope.agent.flows import Flow
from otscope.dissectors.base import DONE, FATAL, Dissector

MAX_PEEKS = 4096             # peeked flows with a dissector at once (the oldest is dropped past it)
IDLE = 900.0                 # a peek that heard nothing for this long is dropped at a sweep (its flow is gone)


class Peeks:
    def __init__(self, fast, host: DissectorHost, pick: Callable[[str, int], type[Dissector] | None]) -> None:  # type: ignore[no-untyped-def]
        self.fast = fast
        self.host = host
        self.pick = pick
        self.live: dict[int, tuple[Flow, int]] = {}     # light flow creation number -> (stand-in flow, index)
        self.labels: list[str] = [""]                   # label id (LightTotals.label) -> protocol name

    def label_of(self, i: int) -> str:
        return self.labels[i] if 0 < i < len(self.labels) else ""

    def _label_id(self, name: str) -> int:
        if name not in self.labels:
            if len(self.labels) >= 255:
                return 0
            self.labels.append(name)
        return self.labels.index(name)

    def event(self, ev) -> None:  # type: ignore[no-untyped-def]
        """A LIGHT_PEEK event: feed its payload to the flow's dissector (made on its first payload)."""
        rec = ev.payload
        ent = self.live.get(rec.seq)
        if ent is None:
            transport = "tcp" if rec.proto == 6 else "udp"
            cls = self.pick(transport, rec.sport)
            if cls is None:
                self.fast.peek_set(rec.index, rec.seq, 0, True)
                return
            if len(self.live) >= MAX_PEEKS:
                self._drop(next(iter(self.live)))
            fl = Flow((rec.cip, rec.cport, rec.sip, rec.sport, rec.vlan), rec.vlan, transport, rec.cip, rec.sip,
                      rec.cport, rec.sport, ev.ts, ev.frame)
            fl.diss = cls()
            ent = self.live[rec.seq] = (fl, rec.index)
        fl, index = ent
        diss = fl.diss
        if diss is None:
            return
        fl.last = ev.ts
        host = self.host
        try:
            r = diss.feed(rec.data, ev.side, ev.ts, ev.frame)
            if rec.last and r != FATAL:
                r = DONE                            # both budgets spent: all it gets of the flow
        except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop the capture
            host.error(fl, diss, type(exc).__name__, ev.frame, ev.ts)
            r = FATAL
        else:
            if r or diss.out or diss.anomalies:
                host.drain(fl, diss, r, ev.frame, ev.ts)
        if fl.diss is None:                         # done, gave up or raised: C counts the rest alone
            # (the entry stays, without a dissector, until a sweep: payload C handed over in the same scan
            # before it heard of the end is ignored, never fed to a new dissector)
            self.fast.peek_set(index, rec.seq, self._label_id(fl.proto) if fl.proto else 0, True)
        elif diss.confirmed and diss.flow_protocol:
            self.fast.peek_set(index, rec.seq, self._label_id(diss.flow_protocol), False)

    def _drop(self, seq: int) -> None:
        fl, index = self.live.pop(seq)
        if fl.diss is not None:
            self.fast.peek_set(index, seq, self._label_id(fl.proto) if fl.proto else 0, True)

    def sweep(self, now: float) -> None:
        for seq in [s for s, (fl, _) in self.live.items() if fl.diss is None or now - fl.last > IDLE]:
            self._drop(seq)
