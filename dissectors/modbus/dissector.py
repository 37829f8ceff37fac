"""Modbus/TCP per-flow state: MBAP framing over the reassembled stream, transaction matching, caps.

Framing is by the MBAP length first (Messaging Implementation Guide 3.1.3); a body that does not parse never
desynchronises the stream. Before the flow is confirmed (a request and its response matched by transaction
id), any framing violation means "not Modbus" and detaches the dissector: non-Modbus traffic on port 502 is
rejected, not mis-parsed. After confirmation, a lying length is an anomaly: the rest of that segment is
dropped and framing resumes at the next segment (three failures in a row detach the flow).
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.modbus import facts
from otscope.dissectors.modbus.constants import MAX_PDU, MODBUS_PORT, PROFILE_CATEGORY, UMAS_ACTIONS, ExceptionCode, \
    ModbusAnomaly, UmasFunction
from otscope.dissectors.modbus.grammar import parse_device_id_request, parse_umas_request
from otscope.domain import caps

MAX_PENDING = caps().pending_transactions
MAX_RESYNC = 3
MAX_UNITS = 256
GATEWAY_EXCEPTIONS = (ExceptionCode.GATEWAY_PATH_UNAVAILABLE, ExceptionCode.GATEWAY_TARGET_FAILED)

# The steady-state layout, as data, for the C fast path (the same frames the inlined path in feed() takes):
# MBAP protocol id 0 and length < 256 (bytes 2..4 zero), length + 6 = the segment, function code at byte 7;
# requests: reads counted; responses: reads and writes from a known unit (byte 6) need nothing. Writes are
# counted by a second spec only for the flow's one known unit (byte 6 fixed): a write to a unit not seen yet
# must reach feed(), which notes the unit (interfaces.md, Modbus: "a unit written to ... gives once a fact").
_T_REQ = bytes(0 if PROFILE_CATEGORY.get(fc) == "read" else 255 for fc in range(256))
_T_RSP = bytes(2 if PROFILE_CATEGORY.get(fc) in ("read", "write") else 255 for fc in range(256))
_T_WRITE = bytes(1 if PROFILE_CATEGORY.get(fc) == "write" else 255 for fc in range(256))
_T_NONE = bytes([255]) * 256


# FC 8 Diagnostics sub-functions that change the device (Modbus Application Protocol V1.1b3, 6.8.1): the events
# layer reads them as control actions; the other sub-functions are counters and echoes
DIAGNOSTIC_CONTROLS = {0x0001: "restart communications", 0x0004: "force listen only mode"}


class ModbusDissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.MODBUS
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (MODBUS_PORT,)
    client_label: ClassVar[str] = "modbus-client"
    server_label: ClassVar[str] = "modbus-server"

    __slots__ = ("buf", "pending", "units", "written", "gateway", "resync", "writes")

    SPEC_NAMES = (("read", "write"), ())

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=4 * (MAX_PDU + 7))
        self.pending: dict[int, tuple[int, int, int]] = {}   # tid -> (fc, unit, read-device-id object/code)
        self.units: set[int] = set()                         # unit ids that answered without exception
        self.written: set[int] = set()                       # units written to and noted before they answered
        self.gateway = False
        self.resync = 0
        self.writes = 0
        self._offered = (False, False, 0, 0)                 # no spec until confirmed

    def _news(self, status: int) -> int:
        """After a slow-path feed: did the conditions of the steady-state spec change?"""
        key = (self.confirmed, bool(self.buf.pending[0] or self.buf.pending[1]), len(self.units), len(self.written))
        if key == self._offered:
            return status
        spec: list | None = None
        if key[0] and not key[1]:
            guard = bytearray(32)
            for u in self.units:
                guard[u >> 3] |= 1 << (u & 7)
            spec = [(8, 4, 2, 6, bytes((2, 0, 3, 0, 4, 0)), 7, _T_REQ, _T_RSP, 6, bytes(guard))]
            known = self.units | self.written
            if len(known) == 1:                              # writes to the one known unit need nothing new
                (u,) = known
                spec.append((8, 4, 2, 6, bytes((2, 0, 3, 0, 4, 0, 6, u)), 7, _T_WRITE, _T_NONE, -1, bytes(32)))
        news = self.offer_spec(key, spec)
        return news if status == OK else status

    def absorb(self, counts0: tuple[int, ...], counts1: tuple[int, ...], decoded: int) -> None:
        super().absorb(counts0, counts1, decoded)
        self.writes += counts0[1] if len(counts0) > 1 else 0

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        n = len(data)
        # common case, inlined: one whole ADU in one segment of a confirmed flow, an ordinary poll
        if n >= 8 and data[2] == 0 and data[3] == 0 and data[4] == 0 and data[5] + 6 == n and data[5] >= 2 \
                and self.confirmed and not self.buf.pending[side]:
            fc = data[7]
            cat = PROFILE_CATEGORY.get(fc)
            if cat == "read" or (cat == "write" and side == 0 and (data[6] in self.units or data[6] in self.written
                                                                   or not 0 < data[6] < 248)):
                self.decoded += n
                if side == 0:
                    prof = self.profile
                    prof[cat] = prof.get(cat, 0) + 1
                    if cat == "write":
                        self.writes += 1
                elif data[6] not in self.units:
                    self._new_unit(data[6], ts, frame)
                    return self._news(OK)
                return OK
        if n >= 8 and not self.buf.pending[side] and data[2] == 0 and data[3] == 0 and \
                (data[4] << 8 | data[5]) + 6 == n and data[4] == 0 and data[5] >= 2:
            self.decoded += n
            return self._news(self._adu(data, side, ts, frame))
        return self._news(self._stream(data, side, ts, frame))

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    def _stream(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= 7:
            pid = data[pos + 2] << 8 | data[pos + 3]
            length = data[pos + 4] << 8 | data[pos + 5]
            if pid != 0 or not 2 <= length <= MAX_PDU + 1:
                return self._bad_frame(f"MBAP protocol id {pid} length {length}", side, ts, frame)
            end = pos + 6 + length
            if end > n:
                break
            status = self._adu(data[pos:end], side, ts, frame)
            self.decoded += end - pos
            if status == FATAL:
                return FATAL
            pos = end
        self.resync = 0
        if pos < n:
            if not self.buf.keep(side, data[pos:]):
                return self._bad_frame("buffered ADU over the cap", side, ts, frame)
            return INCOMPLETE
        return OK

    def _bad_frame(self, why: str, side: int, ts: float, frame: int) -> int:
        self.buf.drop(side)
        if not self.confirmed:
            return self.fatal(f"not modbus ({why})")
        self.anomaly(ModbusAnomaly.BAD_MBAP_LENGTH if "length" in why else ModbusAnomaly.BAD_FRAMING, frame, ts)
        self.resync += 1
        return self.fatal(f"lost framing ({why})") if self.resync >= MAX_RESYNC else OK

    def _adu(self, adu: bytes, side: int, ts: float, frame: int) -> int:
        tid = adu[0] << 8 | adu[1]
        unit = adu[6]
        fc = adu[7]
        if side == 0:
            prof = self.profile
            cat = PROFILE_CATEGORY.get(fc, "other")
            prof[cat] = prof.get(cat, 0) + 1
            extra = 0
            if fc == 43 or fc == 90 or fc == 17 or fc == 8 or fc > 127 or cat == "other":
                extra = self._request_detail(adu, fc, unit, ts, frame)
                if extra < 0:
                    return FATAL
            elif cat == "write":
                self.writes += 1
                self._written(unit, ts, frame)
            pending = self.pending
            if len(pending) >= MAX_PENDING and tid not in pending:
                pending.clear()
                self.anomaly(ModbusAnomaly.PENDING_TRANSACTIONS_CAP, frame, ts)
            pending[tid] = (fc, unit, extra)
            if not self.labelled:
                self.label(frame, ts, "Modbus/TCP request")
            return OK
        req = self.pending.pop(tid, None)
        if req is None:
            return OK if self.confirmed else self._unmatched(adu, fc, ts, frame)
        if req[0] != fc & 0x7F:
            self.anomaly(ModbusAnomaly.RESPONSE_FUNCTION_MISMATCH, frame, ts)
            return OK
        if not self.confirmed:
            self.confirm(frame, ts, "Modbus/TCP request/response")
        if fc & 0x80:
            return self._exception(adu, fc & 0x7F, unit, ts, frame)
        if unit not in self.units:
            self._new_unit(unit, ts, frame)
        if fc == 43 or fc == 17 or fc == 90:
            facts.response(self, adu[7:], fc, unit, req[2], ts, frame)
        return OK

    def _unmatched(self, adu: bytes, fc: int, ts: float, frame: int) -> int:
        """A response before any matched exchange (capture started mid-session): parse, do not confirm."""
        if fc == 43 or fc == 17:
            facts.response(self, adu[7:], fc, adu[6], 0, ts, frame)
        return OK

    def _request_detail(self, adu: bytes, fc: int, unit: int, ts: float, frame: int) -> int:
        if fc > 127:
            if not self.confirmed:
                self.fatal_reason = "not modbus (request with the exception bit set)"
                return -1
            self.anomaly(ModbusAnomaly.REQUEST_WITH_EXCEPTION_BIT, frame, ts)
            return 0
        if fc == 43 and len(adu) > 8 and adu[8] == 14:
            try:
                req = parse_device_id_request(adu[7:])
            except (Truncated, Malformed):
                self.anomaly(ModbusAnomaly.MALFORMED_DEVICE_ID_REQUEST, frame, ts)
                return 0
            self.count(f"fc43 read code {req.read_code}")
            return req.read_code << 8 | req.object_id
        if fc == 90:
            facts.umas_seen(self, unit, ts, frame)
            self._umas(adu[7:], unit, ts, frame)
        if fc == 8 and len(adu) >= 10:
            sub = adu[8] << 8 | adu[9]
            what = DIAGNOSTIC_CONTROLS.get(sub)
            if what is not None:
                self.count(f"fc8 {what}")
                self.fact(Who.SERVER, "control_action", f"{what} (FC8 sub-function {sub})",
                          f"Modbus FC8 Diagnostics sub-function 0x{sub:04x}", frame, ts, facts.component(unit))
                self.fact(Who.CLIENT, "role_hint", "engineering-workstation", f"Modbus FC8 {what}", frame, ts)
        if PROFILE_CATEGORY.get(fc, "other") == "other":
            self.count(f"fc{fc}")
        return 0

    def _umas(self, pdu: bytes, unit: int, ts: float, frame: int) -> None:
        """A UMAS request that starts or stops the controller or transfers its program: a control action."""
        try:
            req = parse_umas_request(pdu)
        except (Truncated, Malformed):
            self.anomaly(ModbusAnomaly.MALFORMED_UMAS_REQUEST, frame, ts)
            return
        what = UMAS_ACTIONS.get(req.function)
        if what is None:
            return                                   # counted as "umas" in the profile (PROFILE_CATEGORY)
        name = UmasFunction(req.function).name.lower().replace("_", " ")
        self.count(f"umas {name}")
        self.fact(Who.SERVER, "control_action", what, f"Modbus FC90 UMAS function 0x{req.function:02x} ({name})",
                  frame, ts, facts.component(unit))
        self.fact(Who.CLIENT, "role_hint", "engineering-workstation", f"UMAS {name}", frame, ts)

    def _exception(self, adu: bytes, fc: int, unit: int, ts: float, frame: int) -> int:
        code = adu[8] if len(adu) > 8 else -1
        self.count(f"exception fc{fc} code {code}")
        if code in GATEWAY_EXCEPTIONS and not self.gateway:
            self.gateway = True
            self.fact(Who.SERVER, "role_hint", "gateway", f"Modbus exception {code} (gateway)", frame, ts)
        return OK

    def _new_unit(self, unit: int, ts: float, frame: int) -> None:
        """A unit answered (without exception) for the first time in this flow: it is a Modbus server, credited
        to its own MBAP unit id (1..247; 0 and 255 address the device itself, already labelled)."""
        if len(self.units) >= MAX_UNITS:
            return
        self.units.add(unit)
        comp = facts.component(unit)
        if comp is None:
            return
        self.fact(Who.SERVER, "protocol", "modbus-server", f"Modbus response from unit {unit}", frame, ts, comp)
        if not self.gateway and sum(1 for u in self.units if 0 < u < 248) >= 2:
            self.gateway = True
            self.fact(Who.SERVER, "role_hint", "gateway", "Modbus: several unit ids answer", frame, ts)

    def _written(self, unit: int, ts: float, frame: int) -> None:
        """A write request to a unit that has not answered in this flow: the unit exists behind the address."""
        if unit in self.units or unit in self.written or len(self.written) >= MAX_UNITS:
            return
        comp = facts.component(unit)
        if comp is None:
            return
        self.written.add(unit)
        self.fact(Who.SERVER, "modbus_unit", str(unit), f"Modbus write to unit {unit}", frame, ts, comp)
