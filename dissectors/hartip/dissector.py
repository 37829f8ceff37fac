"""HART-IP per-flow state: framing by the header's byte count, request/response matching, HART devices.

Framing is by the byte count first (HCF_SPEC-085 10.2). Before the flow is confirmed (a request and its response
with the same sequence number and message id), a header that is not HART-IP (version, message type or id
unknown, byte count out of bounds) detaches the dissector: other bytes on 5094 are rejected, not mis-parsed.
After confirmation an unknown message id is an anomaly and its body is skipped by its byte count; a lying byte
count is an anomaly, the rest of the segment is dropped (three in a row give the flow up).

Roles: the initiator (client) sends requests, the server answers them. Devices: the HART addresses that answer
are remembered (bounded). The first to answer, or the one answering the server's own polling address, is the
server itself (no component); any other address that answers makes the server a gateway (role_hint gateway)
with that field instrument behind it as the component ``hart:<unique id>``.
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.hartip import facts
from otscope.dissectors.hartip.constants import (HARTIP_PORT, HEADER_LEN, MAX_DEVICES, MAX_MESSAGE, MAX_RESYNC,
                                                 RC_COMM_ERROR_BIT, UDP_SESSION_PORT, VERSIONS, Command,
                                                 HartAnomaly, HostType, MessageId, MessageType)
from otscope.dissectors.hartip.grammar import (Header, HartPdu, parse_cmd0, parse_cmd12, parse_cmd13, parse_cmd20,
                                               parse_header, parse_pass_through, parse_session_init)
from otscope.domain import caps

MAX_PENDING = caps().pending_requests
_TYPES = frozenset(MessageType)
_IDS = frozenset(MessageId)
GATEWAY_WHY = "HART-IP server answering for several HART device addresses (a gateway / multiplexer)"


class HartIpTcp(Dissector):
    protocol: ClassVar[Protocol] = Protocol.HARTIP
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (HARTIP_PORT,)
    client_label: ClassVar[str] = "hartip-client"
    server_label: ClassVar[str] = "hartip-server"

    __slots__ = ("buf", "pending", "own", "devices", "gateway", "resync")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=2 * MAX_MESSAGE)
        self.pending: dict[int, int] = {}         # sequence number -> message id of a request
        self.own: str | None = None               # the server's own HART unique id
        self.devices: set[str] = set()            # unique ids that answered (bounded by MAX_DEVICES)
        self.gateway = False
        self.resync = 0

    # -- framing ---------------------------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= HEADER_LEN:
            h = parse_header(data, pos)
            bad = self._check(h)
            if bad:
                return self._bad_frame(bad, h, side, ts, frame)
            end = pos + h.length
            if end > n:
                break
            self.decoded += h.length
            status = self._message(h, data[pos + HEADER_LEN:end], side, ts, frame)
            if status == FATAL:
                return FATAL
            pos = end
        self.resync = 0
        if pos < n:
            if not self.buf.keep(side, data[pos:]):
                return self._bad_frame(HartAnomaly.BUFFER_OVERFLOW, None, side, ts, frame)
            return INCOMPLETE
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    @staticmethod
    def _check(h: Header) -> HartAnomaly | None:
        if h.version not in VERSIONS:
            return HartAnomaly.BAD_VERSION
        if not HEADER_LEN <= h.length <= MAX_MESSAGE:
            return HartAnomaly.BAD_LENGTH
        if h.msg_type not in _TYPES:
            return HartAnomaly.UNKNOWN_MESSAGE_TYPE
        return None

    def _bad_frame(self, kind: HartAnomaly, h: Header | None, side: int, ts: float, frame: int) -> int:
        self.buf.drop(side)
        if not self.confirmed:
            return self.fatal(f"not hart-ip ({kind}{'' if h is None else f': {h}'})")
        self.anomaly(kind, frame, ts)
        self.resync += 1
        return self.fatal(f"lost framing ({kind})") if self.resync >= MAX_RESYNC else OK

    # -- messages --------------------------------------------------------------------------------------------
    def _message(self, h: Header, body: bytes, side: int, ts: float, frame: int) -> int:
        if h.msg_id not in _IDS:
            if not self.confirmed:
                return self.fatal(f"not hart-ip (message id {h.msg_id} before a valid exchange)")
            self.anomaly(HartAnomaly.UNKNOWN_MESSAGE_ID, frame, ts, str(h.msg_id))
            return OK
        name = MessageId(h.msg_id).name.lower().replace("_", "-")
        if side == 0:
            return self._request(h, body, name, ts, frame)
        return self._reply(h, body, name, ts, frame)

    def _request(self, h: Header, body: bytes, name: str, ts: float, frame: int) -> int:
        if h.msg_type != MessageType.REQUEST:
            self.count(f"{name} type {h.msg_type} from client")
            return OK
        self.count(name)
        pending = self.pending
        if len(pending) >= MAX_PENDING and h.sequence not in pending:
            pending.clear()
            self.anomaly(HartAnomaly.PENDING_REQUESTS_CAP, frame, ts)
        pending[h.sequence] = h.msg_id
        if not self.labelled:
            self.label(frame, ts, f"HART-IP {name} request")
        if h.msg_id == MessageId.SESSION_INITIATE:
            init = parse_session_init(body)
            if init is not None:
                host = HostType(init.host_type).name.lower() if init.host_type in (0, 1) else str(init.host_type)
                self.fact(Who.CLIENT, "hartip_host_type", host, "HART-IP Session Initiate request", frame, ts)
        elif h.msg_id == MessageId.PASS_THROUGH:
            pdu = self._pdu(body, ts, frame)
            if pdu is not None and not pdu.is_response:
                self.count(f"cmd {pdu.command}")
        return OK

    def _reply(self, h: Header, body: bytes, name: str, ts: float, frame: int) -> int:
        if h.msg_type == MessageType.REQUEST:       # the server does not ask: counted, never an answer
            self.count(f"{name} request from server")
            return OK
        if h.msg_type == MessageType.PUBLISH:
            self.count(f"{name} publish")
            return self._pass_through(h, body, ts, frame) if h.msg_id == MessageId.PASS_THROUGH else OK
        req = self.pending.pop(h.sequence, None)
        if req is None or req != h.msg_id:
            if not self.confirmed:
                return OK                           # an answer to a request we did not see: wait for a pair
            self.count(f"{name} unmatched")
        elif not self.confirmed:
            self.confirm(frame, ts, f"HART-IP {name} request/response")
        if h.msg_type in (MessageType.ERROR, MessageType.NAK):
            self.count(f"{name} error" if h.msg_type == MessageType.ERROR else f"{name} nak")
            return OK
        if h.msg_id == MessageId.PASS_THROUGH and h.msg_type == MessageType.RESPONSE:
            return self._pass_through(h, body, ts, frame)
        return OK

    # -- HART PDUs -------------------------------------------------------------------------------------------
    def _pdu(self, body: bytes, ts: float, frame: int) -> HartPdu | None:
        try:
            pdu = parse_pass_through(body)
        except (Truncated, Malformed) as exc:
            self.anomaly(HartAnomaly.MALFORMED_PASS_THROUGH, frame, ts, str(exc))
            return None
        if not pdu.checksum_ok:
            self.anomaly(HartAnomaly.BAD_CHECKSUM, frame, ts)
            return None
        return pdu

    def _pass_through(self, h: Header, body: bytes, ts: float, frame: int) -> int:
        pdu = self._pdu(body, ts, frame)
        if pdu is None or not pdu.is_response or pdu.response_code is None or pdu.response_code & RC_COMM_ERROR_BIT:
            return OK
        msg = f"HART cmd {pdu.command} response (HART-IP seq {h.sequence})"
        try:
            self._command(pdu, msg, ts, frame)
        except (Truncated, Malformed):
            if pdu.data:                            # an error answer carries no data: only a cut layout counts
                self.anomaly(HartAnomaly.SHORT_RESPONSE, frame, ts, str(pdu.command))
        return OK

    def _command(self, pdu: HartPdu, msg: str, ts: float, frame: int) -> None:
        cmd = pdu.command
        if cmd == Command.READ_UNIQUE_ID:
            ident = parse_cmd0(pdu.data)
            addr = pdu.long_address or ident.unique_id
            if pdu.poll_address == 0 and self.own is None:
                self.own = ident.unique_id          # the server's own identity, asked by polling address 0
            comp = self._component(addr, msg, ts, frame)
            self.fact(Who.SERVER, "hart_address", addr, msg, frame, ts, comp)
            facts.identity(self, ident, comp, msg, frame, ts)
        elif cmd == Command.READ_TAG_DESCRIPTOR_DATE:
            td = parse_cmd13(pdu.data)
            facts.tag_descriptor(self, td, self._component(pdu.long_address, msg, ts, frame), msg, frame, ts)
        elif cmd == Command.READ_MESSAGE:
            text = parse_cmd12(pdu.data)
            facts.message(self, text, self._component(pdu.long_address, msg, ts, frame), msg, frame, ts)
        elif cmd == Command.READ_LONG_TAG:
            tag = parse_cmd20(pdu.data)
            facts.long_tag(self, tag, self._component(pdu.long_address, msg, ts, frame), msg, frame, ts)

    def _component(self, addr: str, msg: str, ts: float, frame: int) -> str | None:
        """None for the server itself (its own address, or a polling-address frame), else ``hart:<id>``; the
        second distinct address to answer makes the server a gateway."""
        if not addr:
            return None
        if self.own is None:
            self.own = addr
        if addr == self.own:
            return None
        if addr not in self.devices:
            if len(self.devices) >= MAX_DEVICES:
                self.anomaly(HartAnomaly.DEVICES_LIMIT, frame, ts)
                return f"hart:{addr}"
            self.devices.add(addr)
        if not self.gateway:
            self.gateway = True
            self.fact(Who.SERVER, "role_hint", "gateway", f"{msg}: {GATEWAY_WHY}", frame, ts)
        return f"hart:{addr}"


class HartIpUdp(HartIpTcp):
    """HART-IP over UDP: one or more whole messages per datagram (packet-hartip.c dissect_hartip_udp), no
    reassembly across datagrams."""

    transport: ClassVar[Transport] = Transport.UDP
    ports: ClassVar[tuple[int, ...]] = (HARTIP_PORT, UDP_SESSION_PORT)

    __slots__ = ()

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        pos, n = 0, len(data)
        while n - pos >= HEADER_LEN:
            h = parse_header(data, pos)
            bad = self._check(h) or (HartAnomaly.BAD_LENGTH if pos + h.length > n else None)
            if bad:
                return self._bad_frame(bad, h, side, ts, frame)
            self.decoded += h.length
            if self._message(h, data[pos + HEADER_LEN:pos + h.length], side, ts, frame) == FATAL:
                return FATAL
            pos += h.length
        self.resync = 0
        if pos < n:
            if not self.confirmed:
                return self.fatal("not hart-ip (datagram bytes after the last message)")
            self.anomaly(HartAnomaly.TRAILING_BYTES, frame, ts)
        return OK
