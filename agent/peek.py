"""Peeked IT flows: the first bytes of a light flow on a port an IT dissector claims with a byte budget.

The C fast path keeps such flows light (no Python flow, C counts them) and hands Python only their first
in-order payload per direction, as ``LIGHT_PEEK`` events (agent/_fastscan.c light_peek), until the spec's
``FlowEntry.peek`` budget is spent. Here each peeked flow has a dissector and a stand-in ``Flow`` (no flow id:
the dissector host's drain, detach and finish work on it unchanged: PeekFlow). When the dissector is done (DONE, FATAL,
an error, or both budgets spent) C is told to stop (``peek_set``), and its confirmed protocol becomes the light
flow's conversation label. The pure-Python backend does the same with ordinary flows and the same budget
(flowtable.PyFlowTable.spend), so both backends report the same facts, labels and counts.
"""

from __future__ import annotations

from collections.abc import Callable

from otscope.agent.dissector_host import DissectorHost
from otscope.dissectors.base import DONE, FATAL, Dissector

MAX_PEEKS = 4096             # peeked flows with a dissector at once (the oldest is dropped past it)
IDLE = 900.0                 # a peek that heard nothing for this long is dropped at a sweep (its flow is gone)


class PeekFlow:
    """What the dissector host reads and writes of a flow, for a peeked light flow (no flow id: the table's
    absorb/detach are no-ops on it). Lighter than a Flow: IT flows are many and short."""

    __slots__ = ("cip", "sip", "vlan", "proto", "fid", "decoded_extra", "detached", "diss", "last", "peek")

    def __init__(self, vlan: int, cip, sip, diss: Dissector, ts: float) -> None:  # type: ignore[no-untyped-def]
        self.vlan, self.cip, self.sip, self.diss, self.last = vlan, cip, sip, diss, ts
        self.proto, self.fid, self.decoded_extra, self.detached, self.peek = "", -1, 0, "", None


class Peeks:
    def __init__(self, fast, host: DissectorHost, pick: Callable[[str, int], type[Dissector] | None]) -> None:  # type: ignore[no-untyped-def]
        self.fast = fast
        self.host = host
        self.pick = pick
        self.live: dict[int, tuple[PeekFlow, int]] = {}  # light flow creation number -> (stand-in flow, index)
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
            ent = self.live[rec.seq] = (PeekFlow(rec.vlan, rec.cip, rec.sip, cls(), ev.ts), rec.index)
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
            host.error(fl, diss, type(exc).__name__, ev.frame, ev.ts)  # type: ignore[arg-type]
            r = FATAL
        else:
            if r or diss.out or diss.anomalies:
                host.drain(fl, diss, r, ev.frame, ev.ts)  # type: ignore[arg-type]
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
