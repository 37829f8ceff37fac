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
from dataclasses import dataclass

from otscope.agent.dissector_host import DissectorHost
from otscope.contract import ACTION_FIELDS
from otscope.dissectors.base import DONE, FATAL, Dissector, MemoUnused, TextMemo

MAX_PEEKS = 4096             # peeked flows with a dissector at once (the oldest is dropped past it)
IDLE = 900.0                 # a peek that heard nothing for this long is dropped at a sweep (its flow is gone)


MEMO_EVENTS = 4              # a memo holds a flow of at most this many peek events (agent/_fastscan.c MEMO_EVENTS)
MEMO_RANGES = 8              # compared byte ranges per event, at most (MEMO_RANGES there)
MEMO_BYTES = 4096            # compared bytes of one event, at most (MEMO_BYTES there)
MEMO_TEXT = 2                # an event compared by its text head's normal form (MEMO_TEXT there)
TEXT_SPECS = 4               # text head specs C holds (TEXT_SPECS there)


class PeekFlow:
    """What the dissector host reads and writes of a flow, for a peeked light flow (no flow id: the table's
    absorb/detach are no-ops on it). Lighter than a Flow: IT flows are many and short. ``rec``: the events
    fed so far with the facts each gave, while the flow may still become a memo (None: it cannot)."""

    __slots__ = ("cip", "sip", "vlan", "proto", "fid", "decoded_extra", "detached", "diss", "last", "peek", "rec")

    def __init__(self, vlan: int, cip, sip, diss: Dissector, ts: float) -> None:  # type: ignore[no-untyped-def]
        self.vlan, self.cip, self.sip, self.diss, self.last = vlan, cip, sip, diss, ts
        self.proto, self.fid, self.decoded_extra, self.detached, self.peek = "", -1, 0, "", None
        self.rec: list[tuple[int, bytes, tuple]] | None = [] if diss.memo else None


@dataclass(slots=True)
class Memo:
    """A finished peek C compares later flows of the same conversation with (agent/_fastscan.c Memo): its ends,
    the dissector's protocol, each event's side and bytes (fed again when a later flow matches only its first
    events) and the facts each event gave (counted again, with the later flows' frames, by collect())."""
    vlan: int
    cip: object
    sip: object
    proto: str
    sides: tuple[int, ...]
    data: tuple[bytes, ...]
    facts: tuple[tuple, ...]


def memo_plan(rec: list[tuple[int, bytes, tuple]], unused: MemoUnused) -> list[tuple] | None:
    """memo_put()'s events for a finished flow: per event its side, whether its length must be the same (else at
    least the part read), that length, its bytes and the ranges of them that must be equal (all but the unused
    ones); None when the flow does not fit a memo."""
    if not rec or len(rec) > MEMO_EVENTS:
        return None
    offs = [0, 0]
    plan = []
    for j, (side, data, _) in enumerate(rec):
        n, o = len(data), offs[side]
        offs[side] += n
        stop = unused.read_to[side]
        if stop is None or o + n <= stop:
            lim, exact = n, True
        elif j == len(rec) - 1:
            lim, exact = max(0, stop - o), False         # the last event, read in part: the rest did not matter
        else:
            return None
        cuts = sorted((max(a - o, 0), min(b - o, lim)) for s, a, b in unused.ranges if s == side and b > o
                      and a < o + lim)
        ranges, p = [], 0
        for a, b in cuts:
            if a > p:
                ranges.append((p, a))
            p = max(p, b)
        if p < lim:
            ranges.append((p, lim))
        if len(ranges) > MEMO_RANGES or lim > MEMO_BYTES:
            return None
        plan.append((side, 1 if exact else 0, n if exact else lim, bytes(data[:lim]), tuple(ranges)))
    return plan


class Peeks:
    def __init__(self, fast, host: DissectorHost, pick: Callable[[str, int], type[Dissector] | None]) -> None:  # type: ignore[no-untyped-def]
        self.fast = fast
        self.host = host
        self.pick = pick
        self.live: dict[int, tuple[PeekFlow, int]] = {}  # light flow creation number -> (stand-in flow, index)
        self.memos: dict[int, Memo] = {}                # memo id (C's) -> what it stands for
        self.text_specs: dict[TextMemo, int] = {}       # text head specs declared to C -> their index
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
        ent = self.live.get(rec.seq) or self._open(rec, ev.ts)
        if ent is not None:
            self._feed(ent[0], ent[1], rec.seq, rec.data, ev.side, ev.ts, ev.frame, rec.last)

    def prefix(self, ev) -> None:  # type: ignore[no-untyped-def]
        """A LIGHT_MEMO event: a flow's first events matched a memo (C counted them), the next did not (it follows
        as a LIGHT_PEEK event): a new dissector is fed the memo's bytes of those events, with this flow's frames."""
        rec = ev.payload
        memo = self.memos.get(rec.memo)
        if memo is None or rec.seq in self.live:
            return
        ent = self._open(rec, ev.ts)
        if ent is None:
            return
        for side, data, frame, ts in zip(memo.sides, memo.data, rec.frames, rec.times):
            self._feed(ent[0], ent[1], rec.seq, data, side, ts, frame, False)

    def _open(self, rec, ts: float):  # type: ignore[no-untyped-def]
        transport = "tcp" if rec.proto == 6 else "udp"
        cls = self.pick(transport, rec.sport)
        if cls is None:
            self.fast.peek_set(rec.index, rec.seq, 0, True)
            return None
        if len(self.live) >= MAX_PEEKS:
            self._drop(next(iter(self.live)))
        ent = self.live[rec.seq] = (PeekFlow(rec.vlan, rec.cip, rec.sip, cls(), ts), rec.index)
        return ent

    def _feed(self, fl: PeekFlow, index: int, seq: int, data: bytes, side: int, ts: float, frame: int,
              last: bool) -> None:
        diss = fl.diss
        if diss is None:
            return
        fl.last = ts
        host = self.host
        try:
            r = diss.feed(data, side, ts, frame)
            if last and r != FATAL:
                r = DONE                            # both budgets spent: all it gets of the flow
        except Exception as exc:  # noqa: BLE001 - a dissector bug must not stop the capture
            host.error(fl, diss, type(exc).__name__, frame, ts)  # type: ignore[arg-type]
            r = FATAL
            fl.rec = None
        else:
            if fl.rec is not None:
                if diss.anomalies or len(fl.rec) >= MEMO_EVENTS:
                    fl.rec = None
                else:
                    fl.rec.append((side, data, tuple(diss.out)))
            if r or diss.out or diss.anomalies:
                host.drain(fl, diss, r, frame, ts)  # type: ignore[arg-type]
        if fl.diss is None:                         # done, gave up or raised: C counts the rest alone
            # (the entry stays, without a dissector, until a sweep: payload C handed over in the same scan
            # before it heard of the end is ignored, never fed to a new dissector)
            label = self._label_id(fl.proto) if fl.proto else 0
            if r == DONE and fl.rec is not None:
                self._remember(fl, diss, index, seq, label)
            self.fast.peek_set(index, seq, label, True)
        elif diss.confirmed and diss.flow_protocol:
            self.fast.peek_set(index, seq, self._label_id(diss.flow_protocol), False)

    # -- memos -----------------------------------------------------------------------------------------
    def _remember(self, fl: PeekFlow, diss: Dissector, index: int, seq: int, label: int) -> None:
        """A flow peeked to its end (DONE, no anomaly): C compares the next flows of its conversation with it."""
        rec = fl.rec
        unused = diss.memo_unused()
        if unused is None or rec is None or any(f.field in ACTION_FIELDS for _, _, fs in rec for f in fs):
            return
        spec = diss.text_memo
        plan = memo_plan(rec, unused) if spec is None else self._text_plan(spec, rec)
        if plan is None:
            return
        got = self.fast.memo_put(index, seq, label, plan)
        if got is None:
            return
        mid, replaced, pending = got
        if replaced >= 0:
            self._counted(pending)                  # what later flows matched of the memo it replaces
            self.memos.pop(replaced, None)
        self.memos[mid] = Memo(fl.vlan, fl.cip, fl.sip, diss.protocol.value, tuple(p[0] for p in plan),
                               tuple(d for _, d, _ in rec), tuple(fs for _, _, fs in rec))

    def _text_plan(self, spec: TextMemo, rec: list[tuple[int, bytes, tuple]]) -> list[tuple] | None:
        """memo_put()'s events for a flow whose events compare as text heads: each event's normal form."""
        i = self.text_specs.get(spec)
        if i is None:
            if len(self.text_specs) >= TEXT_SPECS:
                return None
            i = self.text_specs[spec] = len(self.text_specs)
            self.fast.memo_text_config(i, spec.max_head, spec.body_window, spec.drop_target, spec.keep, spec.cond,
                                       spec.element)
        if not rec or len(rec) > MEMO_EVENTS:
            return None
        plan = []
        for side, data, _ in rec:
            norm = self.fast.text_norm(i, side, data)
            if norm is None or not norm:
                return None
            plan.append((side, MEMO_TEXT, i, norm, ((0, len(norm)),)))
        return plan

    def collect(self) -> None:
        """The facts of the memo events later flows matched since the last call, with the first such event's
        frame and time and the last one's time (what feeding those flows would have added)."""
        if self.memos:
            self._counted(self.fast.memo_collect())

    def _counted(self, stats) -> None:  # type: ignore[no-untyped-def]
        facts = self.host.memo_facts
        for st in stats:
            m = self.memos.get(st.memo)
            if m is None or not m.facts[st.level]:
                continue
            fs = m.facts[st.level]
            facts(m.vlan, m.cip, m.sip, m.proto, fs, st.first_frame, st.first)
            if st.last > st.first:
                facts(m.vlan, m.cip, m.sip, m.proto, fs, st.first_frame, st.last)

    def _drop(self, seq: int) -> None:
        fl, index = self.live.pop(seq)
        if fl.diss is not None:
            self.fast.peek_set(index, seq, self._label_id(fl.proto) if fl.proto else 0, True)

    def sweep(self, now: float) -> None:
        for seq in [s for s, (fl, _) in self.live.items() if fl.diss is None or now - fl.last > IDLE]:
            self._drop(seq)
