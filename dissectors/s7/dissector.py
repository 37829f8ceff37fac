"""S7 per-flow state on TCP 102: TPKT framing (RFC 1006), COTP, DT reassembly, S7comm and S7comm-plus.

Framing by the TPKT length first; a COTP or S7 body that fails to parse is an anomaly. Before the
connection is confirmed (a COTP CC, or a valid S7 PDU), anything that is not TPKT version 3 means "not
ISO-on-TCP" and detaches the dissector. Fragmented COTP DT (no EOT) is reassembled up to a cap.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who, text
from otscope.dissectors.s7 import facts, mms_facts
from otscope.domain import caps
from otscope.dissectors.s7.constants import BLOCK_FILE_FUNCTIONS, ENGINEERING_FUNCTIONS, PI_BLOCK_SERVICES, \
    S7_PORT, S7COMM_ID, S7PLUS_ID, SUB_READ_SZL, SYSTEM_DATA_ACTIONS, SYSTEM_DATA_BLOCK, CotpType, Function, \
    PlusFunction, PlusOpcode, Rosctr, S7Anomaly, UserdataGroup
from otscope.dissectors.s7.grammar import parse_block_file, parse_cotp, parse_pi_blocks, parse_plus, parse_s7, \
    parse_szl, parse_userdata, tsaps
from otscope.dissectors.s7.mms import DIRECT, unwrap, parse_mms
from otscope.dissectors.s7.mms_constants import AcseApdu, MmsPduType

# The steady state as data for the C fast path: one whole TPKT (length big-endian at 2) holding COTP DT with
# EOT and an S7comm Read/Write Var job (function at 17) or ack-data (function at 19).
_HEAD = (0, 3, 1, 0, 4, 2, 5, 0xF0, 6, 0x80, 7, 0x32)
_T_JOB = bytes(0 if b == 4 else 1 if b == 5 else 255 for b in range(256))
_T_ACK = bytes(2 if b in (4, 5) else 255 for b in range(256))
S7_SPECS = [(20, 2, 2, 0, bytes(_HEAD + (8, 1)), 17, _T_JOB, _T_JOB, -1, bytes(32)),
            (20, 2, 2, 0, bytes(_HEAD + (8, 3)), 19, _T_ACK, _T_ACK, -1, bytes(32))]
MAX_TPKT = 65535
COTP, S7, S7P, MMS = "cotp", "s7comm", "s7comm-plus", "mms"
_NONE, _SETUP, _FRAGMENT, _PAYLOAD = range(4)          # what a TPKT held, for the decoded-bytes bookkeeping
MAX_DT = caps().cotp_reassembly_bytes
MAX_SZL = 64 * 1024


SUB_SET_CLOCK = (0x02, 0x04)             # userdata group 7 (time): set clock, set clock (following)


def _pi_service(params: bytes) -> str:
    """The PI service name of a PI-Service job (function 0x28, as Wireshark's s7comm dissects it): 7 unknown
    bytes, a 2-byte parameter block length, the block, a 1-byte name length, the name (_INSE, _DELE,
    P_PROGRAM...). '' when the job is too short to hold one."""
    if len(params) < 11:
        return ""
    at = 10 + (params[8] << 8 | params[9])
    if at >= len(params):
        return ""
    n = params[at]
    return text(bytes(params[at + 1: at + 1 + n]), 32) if n else ""


class S7Dissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.S7COMM
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (S7_PORT,)
    client_label: ClassVar[str] = "cotp-client"
    server_label: ClassVar[str] = "cotp-server"

    __slots__ = ("buf", "dt", "pending_tsap", "labels", "szl_parts", "tls", "s7seen", "held", "frag", "payload_ok",
                 "iso", "mms_pending", "mms_seen")
    SPEC_NAMES = (("read_var", "write_var"), ("read_var", "write_var"))

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=2 * MAX_TPKT)
        self.dt = [b"", b""]                               # COTP DT reassembly per direction
        self.pending_tsap: tuple[int, int, int, int, float] | None = None
        self.labels: set[str] = set()
        self.szl_parts: dict[int, bytes] = {}
        self.tls = False
        self.s7seen = 0                                    # bit per side: S7comm seen (labels done)
        self.held = 0                                      # COTP set-up bytes, decoded once the flow is S7
        self.frag = [0, 0]                                 # TPKT bytes of DT fragments waiting for their EOT
        self.payload_ok = False                            # the last TPDU's user data parsed as S7comm(-plus)
        self.iso = False                                   # a COTP CR or CC parsed: ISO-on-TCP is established
        self.mms_pending: dict[int, int | None] = {}   # MMS GetNameList invokeID -> object class asked for
        self.mms_seen: set[tuple[int, str, str]] = set()
        self.flow_protocol = COTP
        self._offered = (False, False)

    def gap(self, side: int) -> None:
        self.buf.drop(side)
        self.dt[side] = b""
        self.frag[side] = 0

    def label(self, frame: int, ts: float, message: str) -> None:
        """A valid COTP exchange: both ends speak ISO-on-TCP (what they carry is labelled when it is seen)."""
        if not self.labelled:
            self.labelled = True
            self._label(Who.CLIENT, "cotp-client", message, frame, ts, COTP)
            self._label(Who.SERVER, "cotp-server", message, frame, ts, COTP)

    def _spoken(self, protocol: str) -> None:
        """The flow's COTP data is this protocol: the flow (and its traffic) is labelled by it, once."""
        if self.flow_protocol == COTP:
            self.flow_protocol = protocol
            if protocol in (S7, S7P, MMS):
                self.decoded += self.held
                self.held = 0

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        n = len(data)
        # common case, inlined: one whole TPKT + COTP DT(EOT) + S7comm Read/Write Var job or ack-data
        if self.s7seen == 3 and n >= 20 and data[0] == 3 and data[1] == 0 and (data[2] << 8 | data[3]) == n \
                and data[4] == 2 and data[5] == 0xF0 and data[6] == 0x80 and data[7] == S7COMM_ID \
                and not self.buf.pending[side] and not self.dt[side]:
            rosctr = data[8]
            fn = data[17] if rosctr == 1 else data[19] if rosctr == 3 else -1
            if fn == 4 or fn == 5:
                self.decoded += n
                if rosctr == 1:
                    key = "read_var" if fn == 4 else "write_var"
                    prof = self.profile
                    prof[key] = prof.get(key, 0) + 1
                return OK
        return self._news(self._frames(data, side, ts, frame))

    def _news(self, status: int) -> int:
        key = (self.s7seen == 3, bool(self.buf.pending[0] or self.buf.pending[1] or self.dt[0] or self.dt[1]))
        if key == self._offered:
            return status
        news = self.offer_spec(key, S7_SPECS if key == (True, False) else None)
        return news if status == OK else status

    def _frames(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= 4:
            # once ISO-on-TCP is established (a COTP CR or CC parsed), a bad TPKT is an anomaly: the rest of the
            # segment is dropped and framing resumes at the next one
            if data[pos] != 3 or data[pos + 1] != 0:
                self.buf.drop(side)
                if not (self.confirmed or self.iso):
                    return self.fatal("not ISO-on-TCP (no TPKT version 3)")
                self.anomaly(S7Anomaly.BAD_TPKT, frame, ts)
                return OK
            length = data[pos + 2] << 8 | data[pos + 3]
            if length < 7:
                self.buf.drop(side)
                return self.fatal(f"TPKT length {length}") if not (self.confirmed or self.iso) else \
                    self._lost(frame, ts)
            end = pos + length
            if end > n:
                break
            self._account(self._tpdu(data[pos + 4:end], side, ts, frame), length, side)
            pos = end
        if pos < n:
            if not self.buf.keep(side, data[pos:]):
                return self.fatal("TPKT over the buffer cap")
            return INCOMPLETE
        return OK

    def _lost(self, frame: int, ts: float) -> int:
        self.anomaly(S7Anomaly.BAD_TPKT_LENGTH, frame, ts)
        return OK

    def _label(self, who: int, label: str, msg: str, frame: int, ts: float, protocol: str) -> None:
        key = f"{who}{label}"
        if key not in self.labels:
            self.labels.add(key)
            self.fact(who, "protocol", label, msg, frame, ts, protocol=protocol)

    def _account(self, kind: int, length: int, side: int) -> None:
        """Decoded-bytes bookkeeping for one TPKT (see the module doc)."""
        s7 = self.flow_protocol in (S7, S7P, MMS)
        if kind == _SETUP:
            if s7:
                self.decoded += length
            else:
                self.held = min(self.held + length, MAX_TPKT)
        elif kind == _FRAGMENT:
            self.frag[side] += length
        elif kind == _PAYLOAD:
            if self.payload_ok:
                self.decoded += length + self.frag[side]
            self.frag[side] = 0

    def _tpdu(self, tpdu: bytes, side: int, ts: float, frame: int) -> int:
        try:
            c = parse_cotp(tpdu)
        except (Truncated, Malformed):
            self.anomaly(S7Anomaly.MALFORMED_COTP, frame, ts)
            return _NONE
        self.payload_ok = False
        if c.pdu_type == CotpType.DT:
            payload = self.dt[side] + c.payload if self.dt[side] else c.payload
            if not c.eot:
                if len(payload) > MAX_DT:                  # over the cap: the reassembly (and its bytes) dropped
                    self.dt[side] = b""
                    self.frag[side] = 0
                    self.anomaly(S7Anomaly.COTP_REASSEMBLY_BYTES_CAP, frame, ts)
                    return _NONE
                self.dt[side] = payload
                return _FRAGMENT
            self.dt[side] = b""
            if payload:
                self._user_data(payload, side, ts, frame)
            return _PAYLOAD
        if c.pdu_type in (CotpType.CR, CotpType.CC):
            self.iso = True
        if c.pdu_type == CotpType.CR and side == 0:
            calling, called = tsaps(c)
            self.count("cotp cr")
            facts.connect_request(self, calling, called, ts, frame)
        elif c.pdu_type == CotpType.CC and side == 1:
            self.confirm(frame, ts, "COTP Connection Confirm")
        return _SETUP

    def _user_data(self, payload: bytes, side: int, ts: float, frame: int) -> None:
        first = payload[0]
        try:
            if first == S7COMM_ID:
                self._s7(payload, side, ts, frame)
            elif first == S7PLUS_ID:
                self._s7plus(payload, side, ts, frame)
            elif first == 0x16 and len(payload) > 2 and payload[1] == 3:
                self._encrypted("TLS handshake inside COTP", frame, ts)
            else:
                self._other(payload, side, ts, frame)
        except (Truncated, Malformed):
            self.payload_ok = False
            self.anomaly(S7Anomaly.MALFORMED_S7COMM if first == S7COMM_ID else S7Anomaly.MALFORMED_PLUS, frame, ts)

    def _other(self, payload: bytes, side: int, ts: float, frame: int) -> None:
        """COTP data that is not S7: ISO session / presentation / ACSE carrying MMS (dissectors/s7/mms.py).
        Before the flow is MMS, what does not walk to an MMS association or PDU is only counted; after, it is
        a malformed-mms anomaly."""
        try:
            env = unwrap(payload, self.flow_protocol == MMS)
            if env is None:
                raise Malformed("neither an ISO session SPDU nor an MMS PDU")
            p = parse_mms(env.mms) if env.mms is not None else None
        except (Truncated, Malformed):
            if self.flow_protocol == MMS:
                self.anomaly(S7Anomaly.MALFORMED_MMS, frame, ts)
            else:
                self.count("cotp other payload")
            return
        is_mms = p is not None or env.mms_context
        if not is_mms or self.flow_protocol not in (COTP, MMS):
            if self.flow_protocol == MMS and env.acse is not None:
                self.payload_ok = True                        # ACSE release / abort of the MMS association
                self.count(f"acse {AcseApdu(env.acse).name.lower()}")
            else:
                self.count("cotp other payload")
            return
        kind = MmsPduType(p.kind).name.lower().replace("_", "-") if p is not None else "association"
        if not self.confirmed:
            self.confirm(frame, ts, f"MMS {kind}")
        self._spoken(MMS)
        self.payload_ok = True
        self._label(Who.CLIENT, "mms-client", f"MMS {kind}", frame, ts, MMS)
        self._label(Who.SERVER, "mms-server", f"MMS {kind}", frame, ts, MMS)
        if env.spdu == DIRECT:
            self.count("mms without session")
        if p is not None:
            mms_facts.pdu(self, p, side, ts, frame)

    # -- S7comm ----------------------------------------------------------------------------------------
    def _s7(self, payload: bytes, side: int, ts: float, frame: int) -> None:
        p = parse_s7(payload)
        if not self.confirmed:
            self.confirm(frame, ts, "S7comm PDU")
        self.payload_ok = True
        self._spoken(S7)
        self.s7seen |= 1 << side
        label = "s7comm-server" if side == 1 else "s7comm-client"
        self._label(Who.SERVER if side == 1 else Who.CLIENT, label, "S7comm PDU", frame, ts, "s7comm")
        facts.s7_confirmed(self, ts, frame)
        if p.rosctr == Rosctr.JOB and p.params:
            fn = p.params[0]
            self.count(Function(fn).name.lower() if fn in Function._value2member_map_ else f"function 0x{fn:02x}")
            if fn in ENGINEERING_FUNCTIONS:
                for what, msg in self._engineering(fn, p.params, frame, ts):
                    self.fact(Who.SERVER, "control_action", what, msg, frame, ts, protocol="s7comm")
                    self.fact(Who.CLIENT, "role_hint", "engineering-workstation", f"S7comm {what}", frame, ts,
                              protocol="s7comm")
        elif p.rosctr == Rosctr.ACK_DATA and p.params and p.params[0] == Function.SETUP_COMMUNICATION \
                and len(p.params) >= 8:
            self.fact(Who.SERVER, "s7_pdu_size", str(p.params[6] << 8 | p.params[7]), "S7comm Setup Communication",
                      frame, ts, protocol="s7comm")
        elif p.rosctr == Rosctr.USERDATA:
            self._userdata(p, side, ts, frame)

    def _engineering(self, fn: int, params: bytes, frame: int, ts: float) -> list[tuple[str, str]]:
        """The control actions of an engineering job, with their message: a block job names its block file,
        and a job on system data blocks (SDB: the hardware configuration) is a system data download / upload /
        delete rather than a block (program) transfer. A block name that does not parse is an anomaly; the job
        is still the action its function says."""
        what, msg = ENGINEERING_FUNCTIONS[fn], f"S7comm job 0x{fn:02x}"
        try:
            if fn in BLOCK_FILE_FUNCTIONS:
                blk = parse_block_file(params)
                msg = f"{msg}, block {blk.name}"
                if blk.type_code == SYSTEM_DATA_BLOCK:
                    return [(SYSTEM_DATA_ACTIONS[fn], msg)]
                return [(what, msg)]
            if fn != Function.PI_SERVICE:
                return [(what, msg)]
            name = _pi_service(params)
            if not name:
                return [(what, msg)]
            what = f"{what[:-1]} {name})"               # "PLC control (PI service P_PROGRAM)"
            if name not in PI_BLOCK_SERVICES:
                return [(what, msg)]
            blocks = parse_pi_blocks(params)
        except (Truncated, Malformed):
            self.anomaly(S7Anomaly.MALFORMED_BLOCK_FILE, frame, ts)
            return [(what, msg)]
        msg = f"{msg}, PI service {name} ({', '.join(b.name for b in blocks[:8]) or 'no block'})"
        out = []
        if any(b.type_code == SYSTEM_DATA_BLOCK for b in blocks):
            out.append((f"system data {PI_BLOCK_SERVICES[name]}", msg))
        if not out or any(b.type_code != SYSTEM_DATA_BLOCK for b in blocks):
            out.append((what, msg))
        return out

    def _userdata(self, p, side: int, ts: float, frame: int) -> None:  # type: ignore[no-untyped-def]
        u = parse_userdata(p)
        if u.group == UserdataGroup.MODE_TRANSITION and side == 1:
            self.count(f"mode transition 0x{u.subfunction:02x}")
            facts.mode_transition(self, u.subfunction, ts, frame)
            return
        if u.group == UserdataGroup.TIME and u.subfunction in SUB_SET_CLOCK and side == 0:
            self.count(f"userdata group {u.group} sub {u.subfunction}")
            self.fact(Who.SERVER, "control_action", "set clock",
                      f"S7comm userdata time function (subfunction 0x{u.subfunction:02x}: set clock)", frame, ts,
                      protocol="s7comm")
            return
        if u.group != UserdataGroup.CPU or u.subfunction != SUB_READ_SZL or u.kind != 8 or side != 1:
            self.count(f"userdata group {u.group} sub {u.subfunction}")
            return
        if u.data_return != 0xFF:
            self.count(f"szl error 0x{u.data_return:02x}")
            return
        data = self.szl_parts.pop(u.sequence, b"") + u.data
        if not u.last_unit and len(data) < MAX_SZL and len(self.szl_parts) < 8:
            self.szl_parts[u.sequence] = data                  # more data units follow
            return
        facts.szl(self, parse_szl(data), ts, frame)

    # -- S7comm-plus -----------------------------------------------------------------------------------
    def _s7plus(self, payload: bytes, side: int, ts: float, frame: int) -> None:
        h = parse_plus(payload)
        if not self.confirmed:
            self.confirm(frame, ts, "S7comm-plus PDU")
        self.payload_ok = True
        self._spoken(S7P)
        who = Who.SERVER if side == 1 else Who.CLIENT
        self._label(who, "s7comm-plus-server" if side == 1 else "s7comm-plus-client", "S7comm-plus PDU", frame, ts,
                    "s7comm-plus")
        if f"ver{h.version}" not in self.labels:
            self.labels.add(f"ver{h.version}")
            self.fact(Who.SERVER, "s7plus_protocol_version", str(h.version), "S7comm-plus header", frame, ts,
                      protocol="s7comm-plus")
        if h.function is None:
            return
        fn = h.function
        self.count(PlusFunction(fn).name.lower() if fn in PlusFunction._value2member_map_ else f"plus 0x{fn:04x}")
        if fn == PlusFunction.CREATE_OBJECT:
            facts.plus_create_object(self, h.body, side, ts, frame)
        elif fn == PlusFunction.INIT_SSL and h.opcode in (PlusOpcode.REQUEST, PlusOpcode.RESPONSE):
            self._encrypted("S7comm-plus InitSSL", frame, ts)

    def _encrypted(self, why: str, frame: int, ts: float) -> None:
        if not self.tls:
            self.tls = True
            self.fact(Who.SERVER, "encrypted", "S7comm-plus session switched to TLS", why, frame, ts,
                      protocol="s7comm-plus")
