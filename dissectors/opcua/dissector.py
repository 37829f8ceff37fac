"""OPC UA binary per-flow state (OPC 10000-6 §7.1 UA TCP, §6.7 UA Secure Conversation).

Framing is by the message header's MessageSize first (§7.1.2.2). Before the flow is confirmed, a header that is
not UA TCP (unknown MessageType, chunk type not F/C/A, size out of bounds) or a first message that is neither HEL
nor RHE nor a secure-channel message detaches the dissector: other bytes on these ports are rejected, not
mis-parsed. Confirmation is a valid exchange: HEL then ACK (§7.1.2.3/4), or, for a capture that starts inside a
long-lived connection, a secure-channel message and its answer (same SecureChannelId, same RequestId), or an ERR
answering a HEL. After confirmation a bad header is an anomaly and the rest of the segment is dropped; three in a
row give the flow up. Ports (constants.PORTS) are hints: the flow table dispatches by port only, so UA TCP on a
port nobody declares is not seen (no first-bytes check on unclaimed flows exists in the C flow table).

Chunks (§6.7.2.2) are reassembled per direction and RequestId, bounded (MAX_CHUNKS, MAX_MESSAGE, MAX_PARTIAL);
a chunk larger than the stream buffer is skipped by its size, counted as decoded. 'A' aborts a message.

Security (§6.7.2.3): the OPN asymmetric header (SecurityPolicyUri, SenderCertificate) is always clear. With the
policy None the bodies are clear: the OpenSecureChannelRequest gives the SecurityMode and every service is decoded.
With another policy the first MSG after the OPN tells the mode apart: a body that decodes as a known service with
its request header is Sign (clear, signed); anything else is SignAndEncrypt, and the flow carries an ``encrypted``
fact (``opcua SignAndEncrypt <policy>``) so the coverage report says why the identity is hidden. Without a captured
OPN, three unreadable client chunks in a row decide (``(policy not seen)``). Encrypted chunks cost a header check.

Ends: the TCP initiator is the OPC UA client, except after a ReverseHello (§7.1.2.6: the server opened the
connection), where the initiator is the server; ``server_who`` names the server end for every fact.
"""

from __future__ import annotations

import re
from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.opcua import facts
from otscope.dissectors.opcua.constants import (ABORT, ATTR_VALUE, BUILD_CHILDREN, BUILD_INFO_BINARY, CHUNK_TYPES,
                                                FINAL, HEADER_LEN, MAX_CERT_FACTS, MAX_CHUNK, MAX_CHUNKS,
                                                MAX_MESSAGE, MAX_PARTIAL, MAX_RESYNC, MIN_BUFFER, MODE_NAMES,
                                                POLICY_NONE, POLICY_PREFIX, PORTS, SECURE, SERVER_STATUS_BINARY,
                                                SERVICE_GROUP, SERVICES, BuildInfoNode, MessageType, OpcuaAnomaly,
                                                SecurityMode, Service, service_name)
from otscope.dissectors.opcua.grammar import (BuildInfo, Header, SecureChunk, UaReader, create_session_request,
                                              create_session_response, find_servers_response,
                                              get_endpoints_response, open_channel_request, parse_ack, parse_error,
                                              parse_header, parse_hello, parse_opn, parse_reverse_hello,
                                              parse_symmetric, read_request, request_header, response_header,
                                              service_id, split_sequence)
from otscope.domain import caps

MAX_PENDING = caps().pending_requests
BUFFER_CAP = 2 * 64 * 1024          # bytes buffered per direction; a bigger chunk is skipped by its size
# the ExtensionObject type ids of BuildInfo (i=340) and ServerStatusDataType (i=864) as four-byte NodeIds
BUILD_INFO_TYPE_ID = bytes((1, 0)) + BUILD_INFO_BINARY.to_bytes(2, "little")
SERVER_STATUS_TYPE_ID = bytes((1, 0)) + SERVER_STATUS_BINARY.to_bytes(2, "little")
# a read of ServerStatus (i=2256) .. BuildInfo_BuildDate (i=2266) as a four-byte or numeric ns=0 NodeId: polling
# reads that name none of them are not decoded (one regex scan)
_BUILD_NODE_BYTES = re.compile(rb"\x01\x00[\xd0-\xda]\x08|\x02\x00\x00[\xd0-\xda]\x08\x00\x00")
MAX_UNREAD = 3                      # unreadable client chunks that prove encryption when no OPN was captured
MAX_SEEN = 512                      # distinct (end, field, value) facts remembered for de-duplication
_TYPES = {m.value.encode(): m for m in MessageType}
# the MAC size of a Sign-only chunk per policy (Part 7 security policies), to reassemble signed chunks
_SIGNATURE = {"Basic128Rsa15": 20, "Basic256": 20, "Basic256Sha256": 32, "Aes128_Sha256_RsaOaep": 32,
              "Aes256_Sha256_RsaPss": 32}


def policy_name(uri: str) -> str:
    return uri.removeprefix(POLICY_PREFIX) or "(empty)"


class OpcUaDissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.OPCUA
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = PORTS
    client_label: ClassVar[str] = "opcua-client"
    server_label: ClassVar[str] = "opcua-server"

    __slots__ = ("buf", "skip", "resync", "started", "hello", "server_who", "policy", "mode", "encrypted",
                 "partial", "pending", "asked", "seen", "certs", "app_uris", "cert_vendor_done", "n_certs", "unread")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(cap=BUFFER_CAP)
        self.skip = [0, 0]                          # bytes of an oversized chunk still to skip, per direction
        self.resync = 0
        self.started = False                        # the first message was a plausible opener
        self.hello = False                          # a HEL was seen (its ACK confirms)
        self.server_who = Who.SERVER
        self.policy = ""                            # SecurityPolicyUri of the last OPN
        self.mode: int | None = None                # MessageSecurityMode of the channel, once known
        self.encrypted = False
        self.partial: list[dict[int, list[bytes]]] = [{}, {}]   # per direction: RequestId -> chunk bodies
        self.pending: dict[int, list[tuple[tuple[int, int | str], int]]] = {}  # RequestHandle -> nodes read
        self.asked: dict[tuple[int, int], int] = {}   # (SecureChannelId, RequestId) of requests, for confirmation
        self.seen: set[tuple[int, str, str]] = set()
        self.certs: list = [None, None]             # per Who: the first certificate summary
        self.app_uris = ["", ""]                    # per Who: the applicationUri it announced
        self.cert_vendor_done = [False, False]
        self.n_certs = 0
        self.unread = 0                             # unreadable client final chunks (no OPN seen), in a row

    # -- fact helpers -----------------------------------------------------------------------------------------
    def once(self, who: int, field: str, value: str, message: str, frame: int, ts: float) -> None:
        """A fact, once per (end, field, value) (bounded): endpoint lists repeat the same description."""
        if not value:
            return
        key = (who, field, value)
        if key in self.seen:
            return
        if len(self.seen) < MAX_SEEN:
            self.seen.add(key)
        self.fact(who, field, value, message, frame, ts)

    def malformed(self, where: str, frame: int, ts: float) -> None:
        self.anomaly(OpcuaAnomaly.MALFORMED, frame, ts, where)

    def label(self, frame: int, ts: float, message: str) -> None:
        if not self.labelled:
            self.labelled = True
            server = self.server_who
            self.fact(facts.client_who(self), "protocol", self.client_label, message, frame, ts)
            self.fact(server, "protocol", self.server_label, message, frame, ts)

    def _sender(self, side: int) -> int:
        """The Who of the end that sent on ``side`` (side 0 = the TCP initiator = Who.CLIENT)."""
        return Who.CLIENT if side == 0 else Who.SERVER

    def _from_client(self, side: int) -> bool:
        return self._sender(side) != self.server_who

    # -- framing ---------------------------------------------------------------------------------------------
    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        if self.skip[side]:
            n = min(self.skip[side], len(data))
            self.skip[side] -= n
            self.decoded += n
            data = data[n:]
            if not data:
                return OK
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= HEADER_LEN:
            h = parse_header(data, pos)
            kind = self._check(h)
            if kind is not None:
                return self._bad_frame(kind, h, side, ts, frame)
            end = pos + h.size
            if end > n:
                if h.size > BUFFER_CAP:             # too big to buffer: skip it by its size
                    self.decoded += n - pos
                    self.skip[side] = end - n
                    self.partial[side].clear()      # a message missing a chunk is not reassembled
                    self.count(f"{h.msg_type.decode().lower()} chunk skipped")
                    self.resync = 0
                    return OK
                break
            status = self._chunk(h, data[pos + HEADER_LEN:end], side, ts, frame)
            if status == FATAL:
                return FATAL
            self.decoded += h.size
            pos = end
        self.resync = 0
        if pos < n:
            if not self.buf.keep(side, data[pos:]):
                return self._bad_frame(OpcuaAnomaly.BUFFER_OVERFLOW, None, side, ts, frame)
            return INCOMPLETE
        return OK

    def gap(self, side: int) -> None:
        self.buf.drop(side)
        self.skip[side] = 0
        self.partial[side].clear()

    @staticmethod
    def _check(h: Header) -> OpcuaAnomaly | None:
        if h.msg_type not in _TYPES:
            return OpcuaAnomaly.BAD_MESSAGE_TYPE
        if h.chunk not in CHUNK_TYPES:
            return OpcuaAnomaly.BAD_CHUNK_TYPE
        if not HEADER_LEN < h.size <= MAX_CHUNK:
            return OpcuaAnomaly.BAD_LENGTH
        return None

    def _bad_frame(self, kind: OpcuaAnomaly, h: Header | None, side: int, ts: float, frame: int) -> int:
        self.buf.drop(side)
        if not self.confirmed:
            return self.fatal(f"not opc ua ({kind}{'' if h is None else f': {h}'})")
        self.anomaly(kind, frame, ts)
        self.resync += 1
        return self.fatal(f"lost framing ({kind})") if self.resync >= MAX_RESYNC else OK

    # -- UA TCP messages (§7.1.2) ----------------------------------------------------------------------------
    def _chunk(self, h: Header, body: bytes, side: int, ts: float, frame: int) -> int:
        mt = _TYPES[h.msg_type]
        if not self.started:
            if mt not in (MessageType.HEL, MessageType.RHE) and mt not in SECURE:
                return self.fatal(f"not opc ua (first message {mt})")
            self.started = True
        try:
            if mt == MessageType.HEL:
                return self._hello(body, side, ts, frame)
            if mt == MessageType.ACK:
                return self._ack(body, side, ts, frame)
            if mt == MessageType.ERR:
                err = parse_error(body)
                self.count(f"err 0x{err.code:08x}")
                self.anomaly(OpcuaAnomaly.ERROR_MESSAGE, frame, ts, f"0x{err.code:08x}")
                if self.hello and not self._from_client(side):
                    self.confirm(frame, ts, "OPC UA Hello/Error")   # a server refusing the HEL speaks UA TCP
                return OK
            if mt == MessageType.RHE:
                return self._reverse_hello(body, side, ts, frame)
            return self._secure(mt, h, body, side, ts, frame)
        except (Truncated, Malformed) as exc:
            if not self.confirmed:
                return self.fatal(f"not opc ua ({mt}: {exc})")
            self.malformed(f"{mt}: {exc}", frame, ts)
            return OK

    def _hello(self, body: bytes, side: int, ts: float, frame: int) -> int:
        hel = parse_hello(body)
        if hel.receive_buffer < MIN_BUFFER or hel.send_buffer < MIN_BUFFER:
            if not self.confirmed:
                return self.fatal(f"not opc ua (HEL buffer sizes {hel.receive_buffer}/{hel.send_buffer})")
            self.malformed("HEL buffer sizes", frame, ts)
        if not self._from_client(side):
            self.anomaly(OpcuaAnomaly.UNEXPECTED_MESSAGE, frame, ts, "HEL from the server")
            return OK
        self.count("hel")
        self.hello = True
        self.once(self.server_who, "opcua_endpoint_url", hel.endpoint_url, "OPC UA Hello", frame, ts)
        self.label(frame, ts, "OPC UA Hello")
        return OK

    def _ack(self, body: bytes, side: int, ts: float, frame: int) -> int:
        ack = parse_ack(body)
        if not self._from_client(side) and self.hello:
            self.count("ack")
            if ack.receive_buffer < MIN_BUFFER or ack.send_buffer < MIN_BUFFER:
                self.malformed("ACK buffer sizes", frame, ts)
            self.confirm(frame, ts, "OPC UA Hello/Acknowledge")
            self.once(self.server_who, "opcua_protocol_version", str(ack.version), "OPC UA Acknowledge", frame, ts)
            return OK
        if not self.confirmed:
            return self.fatal("not opc ua (ACK without a HEL)")
        self.anomaly(OpcuaAnomaly.UNEXPECTED_MESSAGE, frame, ts, "ACK")
        return OK

    def _reverse_hello(self, body: bytes, side: int, ts: float, frame: int) -> int:
        rhe = parse_reverse_hello(body)
        if side == 0 and not self.hello:
            self.server_who = Who.CLIENT            # the server opened the connection (§7.1.2.6)
        self.count("rhe")
        self.once(self.server_who, "opcua_application_uri", rhe.server_uri, "OPC UA ReverseHello", frame, ts)
        self.once(self.server_who, "opcua_endpoint_url", rhe.endpoint_url, "OPC UA ReverseHello", frame, ts)
        return OK

    # -- secure conversation (§6.7) --------------------------------------------------------------------------
    def _secure(self, mt: MessageType, h: Header, body: bytes, side: int, ts: float, frame: int) -> int:
        if mt == MessageType.OPN:
            chunk = parse_opn(body)
            self._open(chunk, side, ts, frame)
            clear = chunk.policy_uri == POLICY_NONE
        elif self.mode == SecurityMode.SIGN_AND_ENCRYPT:
            if len(body) < 8:                       # SecureChannelId and TokenId are clear (§6.7.2.3)
                raise Truncated("symmetric security header")
            self.count(f"{mt.value.lower()} encrypted")   # the steady state of an encrypted channel: no copy
            return OK
        else:
            chunk = parse_symmetric(body)
            clear = self._clear_channel(chunk, h.chunk, mt, side, ts, frame)
        if not clear:
            self.count(f"{mt.value.lower()} {'encrypted' if self.mode is not None or self.policy else 'unread'}")
            return OK
        self.count(mt.value.lower())
        _seq, request_id, part = split_sequence(chunk.rest)
        self._exchange(chunk.channel_id, request_id, side, mt, ts, frame)
        whole = self._reassemble(h.chunk, request_id, part, side, ts, frame)
        if whole is not None:
            self._body(whole, mt, side, ts, frame)
        return OK

    def _exchange(self, channel: int, request_id: int, side: int, mt: MessageType, ts: float, frame: int) -> None:
        """Confirmation without a HEL (a capture that starts inside a connection): a request and its answer."""
        if self.confirmed:
            return
        key = (channel, request_id)
        if self._from_client(side):
            if len(self.asked) >= MAX_PENDING:
                self.asked.clear()
            self.asked[key] = 1
        elif key in self.asked or (mt == MessageType.OPN and (0, request_id) in self.asked):
            self.confirm(frame, ts, f"OPC UA {mt} request/response")

    def _open(self, chunk: SecureChunk, side: int, ts: float, frame: int) -> None:
        who = self._sender(side)
        msg = "OPC UA OpenSecureChannel"
        if chunk.policy_uri != self.policy:
            self.policy = chunk.policy_uri
            self.mode = SecurityMode.NONE if chunk.policy_uri == POLICY_NONE else None
        self.once(self.server_who, "opcua_security_policy", policy_name(chunk.policy_uri), msg, frame, ts)
        self._cert(who, chunk.sender_cert, f"{msg} sender certificate", frame, ts)   # each renewal repeats it
        if not self.labelled:
            self.label(frame, ts, msg)

    def _clear_channel(self, chunk: SecureChunk, chunk_type: int, mt: MessageType, side: int, ts: float,
                       frame: int) -> bool:
        """Whether a MSG/CLO body can be read: policy None, or Sign mode. An unknown mode (a policy other than
        None, or no OPN captured) is decided by the client's messages: a known service request with its request
        header is clear (Sign), anything else is encrypted. After an OPN the first client message starts a
        message, so one decides; without the OPN (a capture that starts inside the channel) a final chunk may end
        a longer message, so MAX_UNREAD unreadable final chunks in a row decide."""
        if self.mode in (SecurityMode.NONE, SecurityMode.SIGN):
            return True
        if self.mode == SecurityMode.SIGN_AND_ENCRYPT or not self._from_client(side):
            return False
        if _looks_clear(chunk.rest):
            if self.policy:
                self.mode = SecurityMode.SIGN
                self.once(self.server_who, "opcua_security_mode", "Sign", f"OPC UA {mt} (signed, not encrypted)",
                          frame, ts)
            else:
                self.mode = SecurityMode.NONE       # no OPN captured: readable (None or Sign, not told)
            return True
        if not self.policy:
            self.unread += chunk_type == FINAL
            if self.unread < MAX_UNREAD:
                return False
        self.mode = SecurityMode.SIGN_AND_ENCRYPT
        self._encrypted(f"OPC UA {mt} after OpenSecureChannel {policy_name(self.policy)}" if self.policy
                        else f"OPC UA {mt}: unreadable body (OpenSecureChannel not captured)", frame, ts)
        return False

    def _encrypted(self, why: str, frame: int, ts: float) -> None:
        value = f"opcua SignAndEncrypt {policy_name(self.policy) if self.policy else '(policy not seen)'}"
        self.once(self.server_who, "opcua_security_mode", "SignAndEncrypt", why, frame, ts)
        if not self.encrypted:
            self.encrypted = True
        self.once(self.server_who, "encrypted", value, why, frame, ts)

    def _reassemble(self, chunk_type: int, request_id: int, part: bytes, side: int, ts: float,
                    frame: int) -> bytes | None:
        parts = self.partial[side]
        if chunk_type == ABORT:
            parts.pop(request_id, None)
            self.anomaly(OpcuaAnomaly.CHUNK_ABORTED, frame, ts)
            return None
        if self.mode == SecurityMode.SIGN:
            part = part[:-_SIGNATURE.get(policy_name(self.policy), 0) or None]
        if chunk_type == FINAL:
            prev = parts.pop(request_id, None)
            return part if prev is None else b"".join(prev) + part
        held = parts.get(request_id)
        if held is None:
            if len(parts) >= MAX_PARTIAL:
                parts.pop(next(iter(parts)))
                self.anomaly(OpcuaAnomaly.REASSEMBLY_LIMIT, frame, ts, "messages")
            held = parts[request_id] = []
        if len(held) >= MAX_CHUNKS or sum(map(len, held)) + len(part) > MAX_MESSAGE:
            parts.pop(request_id, None)
            self.anomaly(OpcuaAnomaly.REASSEMBLY_LIMIT, frame, ts, "size")
            return None
        held.append(part)
        return None

    # -- services (Part 4) -----------------------------------------------------------------------------------
    def _body(self, body: bytes, mt: MessageType, side: int, ts: float, frame: int) -> None:
        r = UaReader(body)
        try:
            sid = service_id(r)
            if sid is None:
                self.count("unknown-service-non-ns0")
                return
            name = service_name(sid)
            if self._from_client(side):
                self._request(sid, name, r, mt, ts, frame)
            else:
                self._response(sid, name, r, body, ts, frame)
        except (Truncated, Malformed) as exc:
            self.malformed(f"{mt} body: {exc}", frame, ts)

    def _request(self, sid: int, name: str, r: UaReader, mt: MessageType, ts: float, frame: int) -> None:
        self.count(name)
        group = SERVICE_GROUP.get(sid)
        if group:
            self.count(group)
        client = facts.client_who(self)
        if sid == Service.OPEN_SECURE_CHANNEL_REQ and self.policy == POLICY_NONE:
            mode = open_channel_request(r)
            self.once(self.server_who, "opcua_security_mode", MODE_NAMES.get(mode, str(mode)),  # type: ignore
                      "OPC UA OpenSecureChannelRequest", frame, ts)
        elif sid == Service.CREATE_SESSION_REQ:
            req = create_session_request(r)
            msg = "OPC UA CreateSessionRequest"
            facts.application(self, client, req.client, msg, frame, ts)
            self.once(client, "opcua_session_name", req.session_name, msg, frame, ts)
            self.once(self.server_who, "opcua_endpoint_url", req.endpoint_url, msg, frame, ts)
            self._cert(client, req.certificate, f"{msg} ClientCertificate", frame, ts)
        elif sid == Service.READ_REQ and _BUILD_NODE_BYTES.search(r.buf, r.pos):
            h, nodes = read_request(r)
            wanted = [n for n in nodes if _build_node(n)]       # BuildInfo, ServerStatus or one of its children
            if wanted:
                if len(self.pending) >= MAX_PENDING and h.handle not in self.pending:
                    self.pending.clear()
                    self.anomaly(OpcuaAnomaly.PENDING_REQUESTS_CAP, frame, ts)
                self.pending[h.handle] = nodes

    def _response(self, sid: int, name: str, r: UaReader, body: bytes, ts: float, frame: int) -> None:
        self.count(name)
        server = self.server_who
        if sid == Service.GET_ENDPOINTS_RSP:
            _h, endpoints = get_endpoints_response(r)
            self._endpoints(endpoints, "OPC UA GetEndpointsResponse", ts, frame)
        elif sid == Service.FIND_SERVERS_RSP:
            _h, servers = find_servers_response(r)
            msg = "OPC UA FindServersResponse"
            if len(servers) == 1:                   # the server describing itself
                facts.application(self, server, servers[0], msg, frame, ts)
            else:                                   # a discovery server listing others: not about itself
                for app in servers[:MAX_CERT_FACTS]:
                    self.once(server, "opcua_discovered_server", app.application_uri, msg, frame, ts)
        elif sid == Service.CREATE_SESSION_RSP:
            rsp = create_session_response(r)
            msg = "OPC UA CreateSessionResponse"
            self._cert(server, rsp.certificate, f"{msg} ServerCertificate", frame, ts)
            self._endpoints(rsp.endpoints, msg, ts, frame)
        elif sid == Service.READ_RSP:
            self._read(r, body, ts, frame)
        elif sid == Service.SERVICE_FAULT:
            rh = _response_result(r)
            self.count(f"service-fault 0x{rh:08x}")

    def _endpoints(self, endpoints: list, msg: str, ts: float, frame: int) -> None:
        server = self.server_who
        for ep in endpoints:
            facts.application(self, server, ep.server, msg, frame, ts)
            self.once(server, "opcua_endpoint_url", ep.url, msg, frame, ts)
            mode = MODE_NAMES.get(ep.mode, str(ep.mode))      # type: ignore[call-overload]
            self.once(server, "opcua_endpoint_security", f"{policy_name(ep.policy_uri)} {mode}", msg, frame, ts)
            self._cert(server, ep.certificate, f"{msg} ServerCertificate", frame, ts)

    def _cert(self, who: int, der: bytes, msg: str, frame: int, ts: float) -> None:
        key = (who, "certificate", str(hash(der)))
        if der and self.n_certs < MAX_CERT_FACTS and key not in self.seen:
            self.seen.add(key)
            self.n_certs += 1
            facts.certificate(self, who, der, msg, frame, ts)
        elif der:
            facts.cert_vendor(self, who, msg, frame, ts)

    def _read(self, r: UaReader, body: bytes, ts: float, frame: int) -> None:
        """A ReadResponse is decoded when its request read BuildInfo nodes, or when its bytes carry a BuildInfo
        ExtensionObject type id (a request we did not see): polling reads cost one byte search."""
        if not self.pending and BUILD_INFO_TYPE_ID not in body and SERVER_STATUS_TYPE_ID not in body:
            return                                  # the common case: nothing asked of BuildInfo
        h = response_header(r)
        nodes = self.pending.pop(h.handle, None)
        if nodes is None and BUILD_INFO_TYPE_ID not in body and SERVER_STATUS_TYPE_ID not in body:
            return
        msg = "OPC UA ReadResponse"
        for i in range(r.array_len()):
            value = r.data_value()
            if isinstance(value, BuildInfo):
                facts.build_info(self, value, f"{msg} BuildInfo", frame, ts)
            elif nodes is not None and i < len(nodes) and isinstance(value, str):
                (ns, ident), attr = nodes[i]
                child = BUILD_CHILDREN.get(ident) if ns == 0 and attr == ATTR_VALUE else None  # type: ignore
                if child:
                    facts.build_child(self, child, value, f"{msg} {BuildInfoNode(ident).name}", frame, ts)


def _build_node(node: tuple[tuple[int, int | str], int]) -> bool:
    (ns, ident), attr = node
    return ns == 0 and attr == ATTR_VALUE and (ident in BUILD_CHILDREN or ident in (BuildInfoNode.BUILD_INFO,
                                                                                    BuildInfoNode.SERVER_STATUS))


def _response_result(r: UaReader) -> int:
    r.skip(8 + 4)
    return r.u32le()


def _looks_clear(rest: bytes) -> bool:
    """A signed-only chunk: the sequence header, then a ns=0 service request NodeId and a request header."""
    try:
        r = UaReader(rest)
        r.skip(8)
        sid = service_id(r)
        if sid is None or sid not in SERVICES:
            return False
        request_header(r)
        return True
    except (Truncated, Malformed):
        return False
