"""DNP3 per-flow state: link framing over the stream, CRC checks, roles from the DIR bit, transport
reassembly, the application function profile.

Framing is by the link length field first (IEEE 1815 9.2.4.1.2). Before any frame of the flow has a valid
header CRC, bytes that are not a DNP3 frame detach the dissector (non-DNP3 traffic on port 20000 is rejected).
After one, a broken frame is an anomaly: framing resumes at the next 0x05 0x64 whose header CRC checks
(MAX_RESYNC losses in a row detach the flow). The flow is confirmed once both ends sent a valid frame.

Master and outstation come from the DIR bit of the frames each end sends (9.2.4.1.3.1), never from the port:
an outstation may open the connection (dial-out) or listen on any port.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.dnp3 import facts
from otscope.dissectors.dnp3.constants import (DNP3_PORT, FIRST_BROADCAST, MAX_ADDRESSES, MAX_FRAME,
                                               MAX_REASSEMBLIES, MAX_REASSEMBLY_BYTES, MAX_RESYNC, RESPONSES,
                                               START, USER_DATA, Dnp3Anomaly, FunctionCode, LinkPrimary,
                                               LinkSecondary, profile_key)
from otscope.dissectors.dnp3.grammar import (BadHeaderCrc, BadLength, BadStart, LinkFrame, parse_apdu,
                                             parse_link_frame, parse_segment)

TIME_GROUP = bytes((50,))                   # group 50: time and date
_KNOWN_FUNCTIONS = frozenset(int(f) for f in FunctionCode)
_MASTER = ("dnp3-client", "hmi-scada")       # label and role of the end that sends DIR=1 frames
_OUTSTATION = ("dnp3-server", "rtu-ied")     # and of the end that sends DIR=0 frames


def _link_key(lf: LinkFrame) -> str:
    enum = LinkPrimary if lf.primary else LinkSecondary
    try:
        return "link " + enum(lf.function).name.lower().replace("_", "-")
    except ValueError:
        return f"link {'primary' if lf.primary else 'secondary'} {lf.function}"


class Dnp3Dissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.DNP3
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (DNP3_PORT,)
    client_label: ClassVar[str] = "dnp3-client"
    server_label: ClassVar[str] = "dnp3-server"

    __slots__ = ("buf", "role", "addresses", "reasm", "started", "valid", "resync")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=2 * MAX_FRAME)
        self.role: list[bool | None] = [None, None]           # per side: sends DIR=1 (master) / DIR=0
        self.addresses: tuple[set[int], set[int]] = (set(), set())
        # per side: (source, destination) -> [last transport sequence, the fragment so far]
        self.reasm: tuple[dict[tuple[int, int], list], dict[tuple[int, int], list]] = ({}, {})
        self.started = [False, False]                         # a first segment (FIR) was seen on this side
        self.valid = [False, False]                           # a frame with a valid header CRC from this side
        self.resync = 0

    # -- framing -----------------------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while pos < n:
            try:
                lf = parse_link_frame(data, pos)
            except Truncated:
                if not self.buf.keep(side, data[pos:]):
                    return self._lost(Dnp3Anomaly.BAD_LENGTH, "buffered frame over the cap", side, ts, frame)
                return INCOMPLETE
            except (BadStart, BadLength, BadHeaderCrc) as exc:
                kind = (Dnp3Anomaly.BAD_START if isinstance(exc, BadStart) else
                        Dnp3Anomaly.BAD_LENGTH if isinstance(exc, BadLength) else Dnp3Anomaly.BAD_HEADER_CRC)
                if self._lost(kind, str(exc), side, ts, frame) == FATAL:
                    return FATAL
                pos = self._next_start(data, pos + 1)
                continue
            self.resync = 0
            self.decoded += lf.size
            pos += lf.size
            self._frame(lf, side, ts, frame)
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)
        self.reasm[side].clear()

    @staticmethod
    def _next_start(data: bytes, pos: int) -> int:
        """The next place a frame may start: 0x05 0x64, or a 0x05 at the very end (its 0x64 may follow)."""
        i = data.find(START, pos)
        if i >= 0:
            return i
        return len(data) - 1 if data[-1:] == START[:1] and len(data) - 1 >= pos else len(data)

    def _lost(self, kind: Dnp3Anomaly, why: str, side: int, ts: float, frame: int) -> int:
        """Framing lost: before any valid frame the flow is not DNP3; after one it is an anomaly."""
        self.buf.drop(side)
        if not (self.valid[0] or self.valid[1]):
            return self.fatal(f"not dnp3 ({why})")
        self.anomaly(kind, frame, ts)
        self.resync += 1
        return self.fatal(f"lost framing ({why})") if self.resync >= MAX_RESYNC else OK

    # -- link layer (clause 9) ---------------------------------------------------------------------------
    def _frame(self, lf: LinkFrame, side: int, ts: float, frame: int) -> None:
        who = Who.CLIENT if side == 0 else Who.SERVER
        self._role(lf, side, who, ts, frame)
        self._address(lf, side, who, ts, frame)
        if not self.valid[side]:
            self.valid[side] = True
            self.labelled = True
            if self.valid[0] and self.valid[1]:
                self.confirmed = True
        if lf.bad_blocks:
            self.anomaly(Dnp3Anomaly.BAD_DATA_CRC, frame, ts)
            return
        if lf.primary and lf.function in USER_DATA and lf.user_data:
            self._segment(lf, side, ts, frame)
        else:
            self.count(_link_key(lf))

    def _role(self, lf: LinkFrame, side: int, who: int, ts: float, frame: int) -> None:
        """The DIR bit says who sent the frame (9.2.4.1.3.1): 1 a master, 0 an outstation."""
        master = lf.from_master
        known = self.role[side]
        if known is None:
            self.role[side] = master
            label, hint = _MASTER if master else _OUTSTATION
            why = f"DNP3 link frame DIR={int(master)} from address {lf.source} (IEEE 1815 9.2.4.1.3.1)"
            self.fact(who, "protocol", label, why, frame, ts)
            self.fact(who, "role_hint", hint, why, frame, ts)
        elif known != master:
            self.anomaly(Dnp3Anomaly.DIRECTION_CONFLICT, frame, ts)

    def _address(self, lf: LinkFrame, side: int, who: int, ts: float, frame: int) -> None:
        src = lf.source
        seen = self.addresses[side]
        if src in seen:
            return
        if src >= FIRST_BROADCAST:
            self.anomaly(Dnp3Anomaly.BROADCAST_SOURCE, frame, ts, str(src))
            return
        if len(seen) < MAX_ADDRESSES:
            seen.add(src)
            self.fact(who, "dnp3_address", str(src), "DNP3 link header source address", frame, ts)

    # -- transport function (clause 8) -------------------------------------------------------------------
    def _segment(self, lf: LinkFrame, side: int, ts: float, frame: int) -> None:
        seg = parse_segment(lf.user_data)
        key = (lf.source, lf.destination)
        table = self.reasm[side]
        if seg.fir:
            self.started[side] = True
            if table.pop(key, None) is not None:
                self.anomaly(Dnp3Anomaly.TRANSPORT_RESTART, frame, ts)
            if seg.fin:
                self._fragment(seg.data, lf, side, ts, frame)
                return
            if len(table) >= MAX_REASSEMBLIES:
                table.pop(next(iter(table)))
                self.anomaly(Dnp3Anomaly.REASSEMBLY_LIMIT, frame, ts, "fragments")
            table[key] = [seg.seq, bytearray(seg.data)]
            return
        entry = table.get(key)
        if entry is None:
            if self.started[side]:                  # not merely a capture that began inside a fragment
                self.anomaly(Dnp3Anomaly.TRANSPORT_WITHOUT_FIR, frame, ts)
            return
        if seg.seq == entry[0]:                      # the same segment again (a link-layer retry)
            return
        if seg.seq != (entry[0] + 1) & 0x3F:
            del table[key]
            self.anomaly(Dnp3Anomaly.TRANSPORT_SEQUENCE, frame, ts)
            return
        if len(entry[1]) + len(seg.data) > MAX_REASSEMBLY_BYTES:
            del table[key]
            self.anomaly(Dnp3Anomaly.REASSEMBLY_LIMIT, frame, ts, "bytes")
            return
        entry[0] = seg.seq
        entry[1] += seg.data
        if seg.fin:
            del table[key]
            self._fragment(bytes(entry[1]), lf, side, ts, frame)

    # -- application layer (clause 4.2) ------------------------------------------------------------------
    def _fragment(self, data: bytes, lf: LinkFrame, side: int, ts: float, frame: int) -> None:
        try:
            apdu = parse_apdu(data)
        except (Truncated, Malformed):
            self.anomaly(Dnp3Anomaly.MALFORMED_APDU, frame, ts)
            return
        fc = apdu.function
        self.count(profile_key(fc))
        if fc not in _KNOWN_FUNCTIONS:
            self.anomaly(Dnp3Anomaly.UNKNOWN_FUNCTION, frame, ts, str(fc))
            return
        response = fc in RESPONSES
        if fc != FunctionCode.CONFIRM and response == lf.from_master:
            self.anomaly(Dnp3Anomaly.FUNCTION_DIRECTION, frame, ts, str(fc))
            return
        if fc == FunctionCode.WRITE and apdu.objects[:1] == TIME_GROUP:
            self.count("time sync")                   # WRITE of group 50 time and date (4.4.15, the master's clock)
        if apdu.objects[:1] == b"\x00":               # group 0: device attributes (annex A.1)
            if response:
                facts.device_attributes(self, apdu.objects, Who.CLIENT if side == 0 else Who.SERVER, ts, frame)
            elif fc == FunctionCode.READ:
                self.count("read device attributes")


class Dnp3UdpDissector(Dnp3Dissector):
    """DNP3 over UDP 20000 (IEEE 1815 annex E): every datagram holds whole link frames."""

    transport: ClassVar[Transport] = Transport.UDP

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        self.buf.drop(side)
        status = super().feed(data, side, ts, frame)
        if status == INCOMPLETE:
            self.buf.drop(side)
            if not (self.valid[0] or self.valid[1]):
                return self.fatal("not dnp3 (truncated datagram)")
            self.anomaly(Dnp3Anomaly.TRUNCATED_DATAGRAM, frame, ts)
            return OK
        return status
