"""EtherNet/IP per-flow state (TCP and UDP 44818) and CIP implicit I/O (UDP 2222).

Framing by the 24-byte encapsulation header's length first (CIP Vol. 2, 2-3); a body that fails to parse
is an anomaly and never desynchronises the stream. Before any well-formed message of a known command, an
unknown command or an impossible length means "not EtherNet/IP" and detaches the dissector. Once the flow is
EtherNet/IP, a command it does not know (vendor-specific or undocumented, e.g. 0x0001 that Rockwell software
sends) is a counted anomaly, skipped by its declared length (its bytes are not counted as decoded), and
decoding goes on with the next message: only framing that cannot resync detaches the flow.
Requests are matched to replies by sender context (SendRRData) or CIP sequence count (SendUnitData).
"""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, Reader, \
    StreamBuffer, Transport, Truncated, Who
from otscope.dissectors.enip import facts
from otscope.dissectors.enip.constants import CONFIG_CLASSES, CONTROL_SERVICES, ENIP_PORT, FILE_SERVICE_NAMES, \
    FILE_SERVICES, HEADER_LEN, IO_PORT, \
    KNOWN_COMMANDS, ClassCode, Command, EnipAnomaly, ItemType, Service
from otscope.dissectors.enip.grammar import Path, parse_cpf, parse_forward_open_route, parse_header, \
    parse_list_identity, parse_request, parse_response, parse_unconnected_send
from otscope.domain import caps

MAX_PENDING = caps().pending_requests
SKIPPED = -1                       # _message(): framed by its length but not decoded (unknown command, bad header)
MAX_BUFFER = 4 * 65536
READ_SERVICES = frozenset({Service.READ_TAG, 0x52, Service.GET_ATTRIBUTE_SINGLE, Service.GET_ATTRIBUTES_ALL, 0x4B})
WRITE_SERVICES = frozenset({Service.WRITE_TAG, Service.READ_MODIFY_WRITE_TAG, 0x53, Service.SET_ATTRIBUTE_SINGLE,
                            Service.SET_ATTRIBUTES_ALL})
ROUTER_PATH_OK = 0x00
# connected services whose replies carry no identity: profile only ("" = a reply, counted as the command)
FAST_SERVICES = {0x4C: "read", 0x52: "read", 0x4D: "write", 0x4E: "write", 0x53: "write", 0x0A: "service 0x0a",
                 0xCC: "", 0xD2: "", 0xCD: "", 0xCE: "", 0xD3: "", 0x8A: ""}
# The same steady state as data for the C fast path: one whole SendUnitData (0x70) encapsulation, length
# little-endian at 2 plus the 24-byte header, connected address (0xA1) and connected data (0xB1) items,
# CIP service at 46.
_KINDS = ("read", "write", "service 0x0a", "")
_T_SUD = bytes(_KINDS.index(FAST_SERVICES[b]) if b in FAST_SERVICES else 255 for b in range(256))
SUD_SPEC = (47, 2, 2, 24, bytes((0, 0x70, 1, 0, 32, 0xA1, 40, 0xB1)), 46, _T_SUD, _T_SUD, -1, bytes(32), True)
_SUD_NAMES = (("send_unit_data", "read"), ("send_unit_data", "write"), ("send_unit_data", "service 0x0a"),
              "send_unit_data")
# class-1 I/O: item count 2 and a sequenced address item first; decoded bytes only
_T_IO = bytes(0 if b == 2 else 255 for b in range(256))
IO_SPEC = (18, 0, 0, 0, bytes((0, 2, 1, 0, 2, 2, 3, 0x80)), 0, _T_IO, _T_IO, -1, bytes(32))


class _Pending:
    __slots__ = ("service", "path", "route", "frame")

    def __init__(self, service: int, path: Path, route: list[tuple[int, str]], frame: int) -> None:
        self.service = service
        self.path = path
        self.route = route
        self.frame = frame


class EnipDissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.ENIP
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (ENIP_PORT,)
    client_label: ClassVar[str] = "enip-client"
    server_label: ClassVar[str] = "enip-server"

    __slots__ = ("buf", "pending", "sessions")
    SPEC_NAMES = (_SUD_NAMES, _SUD_NAMES)

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=MAX_BUFFER)
        self.pending: dict[object, _Pending] = {}
        self.sessions = 0
        self._offered = (False, False)

    def _news(self, status: int) -> int:
        key = (self.confirmed, bool(self.buf.pending[0] or self.buf.pending[1]))
        if key == self._offered or self.transport is not Transport.TCP:
            return status
        news = self.offer_spec(key, SUD_SPEC if key == (True, False) else None)
        return news if status == OK else status

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        n = len(data)
        # common case, inlined: one whole SendUnitData (connected address + connected data items) carrying
        # a tag read/write or its reply: nothing to learn but the profile
        if self.confirmed and n >= 47 and data[0] == 0x70 and data[1] == 0 and (data[2] | data[3] << 8) + 24 == n \
                and data[32] == 0xA1 and data[40] == 0xB1 and not self.buf.pending[side]:
            kind = FAST_SERVICES.get(data[46])
            if kind is not None:
                self.decoded += n
                prof = self.profile
                prof["send_unit_data"] = prof.get("send_unit_data", 0) + 1
                if kind:
                    prof[kind] = prof.get(kind, 0) + 1
                return OK
        return self._news(self._frames(data, side, ts, frame))

    def _frames(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= HEADER_LEN:
            cmd = data[pos] | data[pos + 1] << 8
            length = data[pos + 2] | data[pos + 3] << 8
            if cmd not in KNOWN_COMMANDS and not (self.confirmed or self.labelled):
                self.buf.drop(side)
                return self.fatal(f"not enip (command 0x{cmd:04x})")
            end = pos + HEADER_LEN + length
            if end > n:
                break
            status = self._message(data[pos:end], side, ts, frame)
            if status == FATAL:
                return FATAL
            if status == OK:
                self.decoded += end - pos
            pos = end
        if pos < n:
            if not self.buf.keep(side, data[pos:]):
                return self.fatal("encapsulation message over the buffer cap")
            return INCOMPLETE
        return OK

    # -- one encapsulation message -----------------------------------------------------------------------
    def _message(self, msg: bytes, side: int, ts: float, frame: int) -> int:
        try:
            h = parse_header(msg)
        except Malformed as exc:
            return self.fatal(f"not enip ({exc})") if not self.confirmed else self._anom(EnipAnomaly.BAD_HEADER, frame, ts)
        body = msg[HEADER_LEN:]
        if h.command not in KNOWN_COMMANDS:
            self.count(f"command 0x{h.command:04x}")
            self.anomaly(EnipAnomaly.UNKNOWN_COMMAND, frame, ts, f"0x{h.command:04x}")
            return SKIPPED
        self.count(Command(h.command).name.lower())
        if not self.labelled and (h.command in (Command.SEND_RR_DATA, Command.SEND_UNIT_DATA,
                                                Command.REGISTER_SESSION) or side == 1):
            self.label(frame, ts, f"EtherNet/IP {Command(h.command).name}")
        try:
            if h.command == Command.LIST_IDENTITY and side == 1 and body:
                self._list_identity(body, ts, frame)
            elif h.command == Command.REGISTER_SESSION and side == 1 and h.status == 0:
                self.sessions += 1
                self.confirm(frame, ts, "EtherNet/IP RegisterSession")
            elif h.command in (Command.SEND_RR_DATA, Command.SEND_UNIT_DATA) and body:
                self._send_data(h.command, h.context, body, side, ts, frame)
            elif h.command in (Command.LIST_SERVICES, Command.LIST_INTERFACES) and side == 1 and h.status == 0:
                self.confirm(frame, ts, f"EtherNet/IP {Command(h.command).name}")
        except (Truncated, Malformed) as exc:
            self.anomaly(EnipAnomaly.MALFORMED, frame, ts, f"{Command(h.command).name.lower()}: {exc}")
        return OK

    def _anom(self, kind: str, frame: int, ts: float) -> int:
        self.anomaly(kind, frame, ts)
        return SKIPPED

    def _list_identity(self, body: bytes, ts: float, frame: int) -> None:
        idents = parse_list_identity(body)
        if idents:
            self.confirm(frame, ts, "EtherNet/IP ListIdentity")
        for ident in idents:
            facts.identity(self, ident, "ListIdentity response", ts, frame)

    def _send_data(self, command: int, context: bytes, body: bytes, side: int, ts: float, frame: int) -> None:
        r = Reader(body)
        r.skip(6)                                       # interface handle, timeout
        for item in parse_cpf(r):
            if item.type_id == ItemType.UNCONNECTED_DATA and item.data:
                self._cip(context, item.data, side, ts, frame)
            elif item.type_id == ItemType.CONNECTED_DATA and len(item.data) > 2:
                seq = item.data[0] | item.data[1] << 8
                self._cip(("seq", seq), item.data[2:], side, ts, frame)

    # -- CIP explicit messages -----------------------------------------------------------------------------
    def _cip(self, key: object, raw: bytes, side: int, ts: float, frame: int) -> None:
        if side == 0:
            self._cip_request(key, raw, ts, frame)
            return
        rsp = parse_response(raw)
        req = self.pending.pop(key, None)
        if req is None:
            return
        if not self.confirmed:
            self.confirm(frame, ts, "CIP request/response")
        if rsp.status != ROUTER_PATH_OK:
            self.count(f"cip error 0x{rsp.status:02x}")
            return
        path = req.path
        comp = facts.component_of(req.route)
        if path.klass == ClassCode.IDENTITY and rsp.service == Service.GET_ATTRIBUTES_ALL and path.instance == 1:
            from otscope.dissectors.enip.grammar import parse_identity_attrs

            facts.identity(self, parse_identity_attrs(Reader(rsp.data)), "CIP Get_Attributes_All (Identity)",
                           ts, frame, comp)
            if comp:
                self.fact(Who.SERVER, "cip_route", comp, "CIP Unconnected Send route", frame, ts, comp)
        elif path.klass == ClassCode.IDENTITY and rsp.service == Service.GET_ATTRIBUTE_SINGLE and \
                path.attribute is not None:
            facts.identity_attribute(self, path.attribute, rsp.data, "CIP Get_Attribute_Single (Identity)",
                                     ts, frame, comp)

    def _cip_request(self, key: object, raw: bytes, ts: float, frame: int) -> None:
        req = parse_request(raw)
        route: list[tuple[int, str]] = []
        service, path = req.service, req.path
        if service == Service.UNCONNECTED_SEND and path.klass == ClassCode.CONNECTION_MANAGER:
            inner, route = parse_unconnected_send(req.data)
            service, path = inner.service, inner.path
            self.count("unconnected send")
        elif service in (Service.FORWARD_OPEN, Service.LARGE_FORWARD_OPEN) and \
                path.klass == ClassCode.CONNECTION_MANAGER:
            self.count("forward open")
            route = parse_forward_open_route(req.data, service == Service.LARGE_FORWARD_OPEN)
        self._classify(service, path, route, ts, frame)
        if len(self.pending) >= MAX_PENDING:
            self.pending.clear()
            self.anomaly(EnipAnomaly.PENDING_REQUESTS_CAP, frame, ts)
        self.pending[key] = _Pending(service, path, route, frame)

    def _classify(self, service: int, path: Path, route: list[tuple[int, str]], ts: float, frame: int) -> None:
        comp = facts.component_of(route)
        if service in CONTROL_SERVICES:
            action = CONTROL_SERVICES[service]
            self.count(f"control {action}")
            self.fact(Who.SERVER, "control_action", f"{action} (class 0x{path.klass or 0:02x})",
                      f"CIP service 0x{service:02x}", frame, ts, comp)
            self.fact(Who.CLIENT, "role_hint", "engineering-workstation", f"CIP {action} request", frame, ts)
        elif service in (Service.SET_ATTRIBUTE_SINGLE, Service.SET_ATTRIBUTES_ALL, Service.SET_ATTRIBUTE_LIST) \
                and path.klass in CONFIG_CLASSES:
            self.count("configuration change")
            self.fact(Who.SERVER, "config_change", f"{CONFIG_CLASSES[path.klass]} (class 0x{path.klass:02x})",
                      f"CIP Set_Attribute 0x{service:02x}", frame, ts, comp)
            self.fact(Who.CLIENT, "role_hint", "engineering-workstation", "CIP configuration write", frame, ts)
        elif path.klass == ClassCode.FILE and service in FILE_SERVICES:
            action = FILE_SERVICES[service]
            self.count(action)
            self.fact(Who.SERVER, "control_action", f"{action} (class 0x37 instance {path.instance or 0})",
                      f"CIP File object {FILE_SERVICE_NAMES[service]} (service 0x{service:02x})", frame, ts, comp)
            self.fact(Who.CLIENT, "role_hint", "engineering-workstation", f"CIP {action}", frame, ts)
        elif service in WRITE_SERVICES:
            self.count("write")
        elif service in READ_SERVICES:
            self.count("read")
        elif service == 0x4B:
            self.count("pccc")
        else:
            self.count(f"service 0x{service:02x}")


class EnipUdpDissector(EnipDissector):
    """ListIdentity and friends over UDP 44818: every datagram is whole encapsulation messages."""

    transport: ClassVar[Transport] = Transport.UDP

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        self.buf.drop(side)
        status = super().feed(data, side, ts, frame)
        if status == INCOMPLETE:
            self.buf.drop(side)
            self.anomaly(EnipAnomaly.TRUNCATED_DATAGRAM, frame, ts)
            return OK if self.confirmed else self.fatal("not enip (truncated datagram)")
        return status


class CipIoDissector(Dissector):
    """Class 0/1 implicit I/O on UDP 2222: CPF with a sequenced address item and connected data."""

    protocol: ClassVar[Protocol] = Protocol.ENIP_IO
    transport: ClassVar[Transport] = Transport.UDP
    ports: ClassVar[tuple[int, ...]] = (IO_PORT,)
    client_label: ClassVar[str] = "enip-io"
    server_label: ClassVar[str] = "enip-io"

    __slots__ = ("valid",)
    SPEC_NAMES = ((None,), (None,))

    def __init__(self) -> None:
        super().__init__()
        self.valid = 0
        self._offered = (False,)

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        # item count 2, sequenced address item (0x8002, length 8): the shape of every class 1 packet
        if len(data) >= 18 and data[0] == 2 and data[1] == 0 and data[2] == 0x02 and data[3] == 0x80:
            self.decoded += len(data)
            if not self.confirmed:
                self.valid += 1
                if self.valid >= 2:
                    self.confirm(frame, ts, "CIP class 1 I/O")
                    return self.offer_spec((True,), IO_SPEC)
            return OK
        try:
            items = parse_cpf(Reader(data))
        except (Truncated, Malformed):
            items = []
        if not any(i.type_id in (ItemType.SEQUENCED_ADDRESS, ItemType.CONNECTED_ADDRESS) for i in items):
            if not self.confirmed:
                return self.fatal("not CIP I/O")
            self.anomaly(EnipAnomaly.MALFORMED_IO_PACKET, frame, ts)
            return OK
        self.decoded += len(data)
        return OK
