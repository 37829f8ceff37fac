"""PN-RT frames on ethertype 0x8892 that are not DCP: cyclic I/O data and alarms (IEC 61158-6-10).

Alarms (FrameID 0xFC01 high, 0xFE01 low) are rare: a stateless frame parser (``parse_frame`` / ``facts``).
The IO device sends AlarmNotifications and the IO controller acknowledges them (AlarmAck): the two blocks
prove the roles of the two MACs.

Cyclic frames (RT_CLASS_1/2/3) come every few milliseconds from both ends of an AR, so they are not parsed
per frame: ``Cyclic`` keeps one small entry per (VLAN, destination+source MAC, FrameID) and per frame only
counts it, reads the APDU_Status at the frame's end (CycleCounter(2) DataStatus(1) TransferStatus(1)) and
compares the DataStatus with the last one. Facts leave only for a new entry, a changed DataStatus and, at
each snapshot (``flush``), the cycle time (from the CycleCounter steps, in 31.25 us units) and the frame
rate per FrameID. Cyclic frames alone do not say which end is the IO controller: both ends send, and the
FrameIDs are assigned per AR (the Connect's IOCRBlocks say which is which, and the CM dissector gives the
roles of the IP hosts; the collector joins them to these MACs).
"""

from __future__ import annotations

import struct

from otscope.dissectors.base import L2Anomaly, L2Fact, L2Output
from otscope.dissectors.pnio.constants import PnioAnomaly, RtaType, alarm_type_name, data_status_text, rt_class
from otscope.dissectors.pnio.grammar import Alarm, parse_alarm

PROTOCOL = "pnio"
LABEL_RT = "pnio-rt"
MAX_ENTRIES = 4096               # (vlan, MACs, FrameID) entries counted at once
CYCLE_UNIT_US = 31.25            # CycleCounter unit (IEC 61158-6-10: 1/32 ms)
_U16 = struct.Struct(">H").unpack_from


def parse_frame(body: bytes) -> Alarm:
    return parse_alarm(body)


def facts(a: Alarm, src: str, dst: str) -> L2Output:
    msg = f"PN-RT alarm {a.priority} {RtaType(a.pdu_type).name}"
    out: L2Output = [L2Fact(src, None, "protocol", LABEL_RT, msg)]
    if a.is_notification:
        kind = alarm_type_name(a.alarm_type or 0)
        msg = f"PN-RT AlarmNotification {a.priority} {kind} slot {a.slot}/{a.subslot}"
        out.append(L2Fact(src, None, "role_hint", "io-device", msg + " (alarms come from the IO device)"))
        out.append(L2Fact(src, None, "pnio_alarm", f"{a.priority} {kind}", msg))
    elif a.is_ack:
        msg = f"PN-RT AlarmAck {a.priority} {alarm_type_name(a.alarm_type or 0)}"
        out.append(L2Fact(src, None, "role_hint", "plc", msg + " (the IO controller acknowledges alarms)"))
    return out


def _rate(n: float) -> str:
    """Two significant figures: a steady cycle gives the same value snapshot after snapshot."""
    if n <= 0:
        return "0"
    return f"{float(f'{n:.2g}'):g}"


def _cycle(delta: int) -> str:
    us = delta * CYCLE_UNIT_US
    return f"{us / 1000:g} ms" if us >= 1000 else f"{us:g} us"


class Cyclic:
    """Cyclic PN-RT frames of one capture loop, counted per (VLAN, MACs, FrameID)."""

    __slots__ = ("entries", "capped")

    def __init__(self) -> None:
        # key -> [src, dst, count, first_ts, last_ts, cycle, smallest cycle step, data_status, first_frame, flushed]
        self.entries: dict[tuple, list] = {}
        self.capped = False

    def frame(self, buf: bytes, off: int, l3: int, stop: int, vlan: int, fid: int, frame: int,
              ts: float) -> tuple[str, L2Output | None]:
        """Count one cyclic frame; the facts it adds (None: nothing new). The common case allocates a key."""
        key = (vlan, fid, buf[off:off + 12])
        e = self.entries.get(key)
        if stop - l3 < 6:
            src = buf[off + 6:off + 12].hex(":")
            return src, [L2Anomaly(str(PnioAnomaly.SHORT_CYCLIC))]
        cycle = _U16(buf, stop - 4)[0]
        ds = buf[stop - 2]
        if e is not None:
            e[2] += 1
            e[4] = ts
            step = (cycle - e[5]) & 0xFFFF
            if step and (step < e[6] or not e[6]):       # the smallest step: a lost frame only lengthens one
                e[6] = step
            e[5] = cycle
            if ds == e[7]:
                return e[0], None
            e[7] = ds
            return e[0], [L2Fact(e[0], None, "pnio_data_status", f"0x{fid:04x} {data_status_text(ds)}",
                                 f"PN-RT cyclic 0x{fid:04x} DataStatus changed")]
        src, dst = buf[off + 6:off + 12].hex(":"), buf[off:off + 6].hex(":")
        if len(self.entries) >= MAX_ENTRIES:
            if self.capped:
                return src, None
            self.capped = True
            return src, [L2Anomaly(str(PnioAnomaly.CYCLIC_TABLE_FULL))]
        self.entries[key] = [src, dst, 1, ts, ts, cycle, 0, ds, frame, 0]
        msg = f"PN-RT cyclic {rt_class(fid)} frame 0x{fid:04x} to {dst}"
        return src, [L2Fact(src, None, "protocol", LABEL_RT, msg),
                     L2Fact(src, None, "pnio_frame_id", f"0x{fid:04x} {rt_class(fid)} to {dst}", msg),
                     L2Fact(src, None, "pnio_data_status", f"0x{fid:04x} {data_status_text(ds)}", msg)]

    def absorb(self, vlan: int, fid: int, macs: bytes, n: int, last: float, cycle: int, step: int) -> None:
        """Frames of an entry that the C fast path counted (same DataStatus): their number, last time, last
        CycleCounter and smallest CycleCounter step."""
        e = self.entries.get((vlan, fid, macs))
        if e is None:
            return
        e[2] += n
        if last > e[4]:
            e[4] = last
        e[5] = cycle
        if step and (step < e[6] or not e[6]):
            e[6] = step

    def flush(self) -> list[tuple[int, int, float, L2Output]]:
        """(vlan, first frame, ts, facts) of the cycle time and rate of every entry that got frames since the
        last flush."""
        out = []
        for (vlan, fid, _macs), e in self.entries.items():
            src, dst, n, first, last, _cyc, step, _ds, first_frame, flushed = e
            if n == flushed or n < 2:
                continue
            e[9] = n
            span = last - first
            rate = _rate((n - 1) / span) if span > 0 else "?"
            cyc = _cycle(step) if step else "?"
            value = f"0x{fid:04x} to {dst}: cycle {cyc}, {rate} frames/s"
            out.append((vlan, first_frame, last, [L2Fact(src, None, "pnio_cyclic", value,
                                                         f"PN-RT cyclic 0x{fid:04x}: {n} frames")]))
        return out
