"""OPC UA binary: bytes -> dataclasses. UA TCP message headers and HEL/ACK/ERR/RHE bodies (OPC 10000-6 §7.1.2),
the secure-conversation headers of OPN/MSG/CLO (§6.7.2), and the built-in type encodings of §5.2 (String,
ByteString, NodeId, ExpandedNodeId, LocalizedText, QualifiedName, ExtensionObject, Variant, DataValue,
DiagnosticInfo, arrays) as far as the identity-bearing services need them.

Every length is bounded: a String or ByteString longer than MAX_STRING, an array longer than MAX_ARRAY or
nesting deeper than MAX_DEPTH is Malformed; the Reader raises Truncated at the end of the bytes. Strings are
decoded as UTF-8 (replacement on error) and made printable and bounded with base.text.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from otscope.dissectors.base import Malformed, Reader, Truncated
from otscope.dissectors.opcua.constants import (BUILD_INFO_BINARY, FIXED_SIZE, HEADER_LEN, MAX_ARRAY, MAX_DEPTH,
                                                MAX_STRING, SERVER_STATUS_BINARY, TEXT_LIMIT, VariantType)

__all__ = ["Ack", "AppDescription", "BuildInfo", "Endpoint", "ErrorMessage", "Hello", "Malformed", "Truncated",
           "UaReader"]

_I32 = struct.Struct("<i").unpack_from
_F64 = struct.Struct("<d").unpack_from
_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)   # DateTime: 100 ns ticks since 1601-01-01 UTC (§5.2.2.5)


def utf8_text(raw: bytes, limit: int = TEXT_LIMIT) -> str:
    """A UTF-8 wire string (§5.2.2.4) -> bounded printable text (cut at a NUL, non-printables replaced)."""
    raw = raw.split(b"\x00", 1)[0] if b"\x00" in raw else raw
    s = raw.decode("utf-8", "replace")
    s = "".join(ch if ch.isprintable() else "\ufffd" for ch in s).strip()
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


@dataclass(frozen=True, slots=True)
class Header:
    """§7.1.2.2 message header."""

    msg_type: bytes     # 3 bytes
    chunk: int          # 'F' 'C' 'A'
    size: int           # the whole message, header included


def parse_header(buf: bytes, pos: int = 0) -> Header:
    if len(buf) - pos < HEADER_LEN:
        raise Truncated("header")
    return Header(bytes(buf[pos:pos + 3]), buf[pos + 3], int.from_bytes(buf[pos + 4:pos + 8], "little"))


class UaReader(Reader):
    """The §5.2 built-in encodings on top of the bounded Reader."""

    __slots__ = ()

    def i32(self) -> int:
        return _I32(self.buf, self._need(4))[0]

    def f64(self) -> float:
        return _F64(self.buf, self._need(8))[0]

    def length(self, what: str, limit: int) -> int:
        """An Int32 length: -1 (null) -> 0; negative or above ``limit`` -> Malformed."""
        n = self.i32()
        if n == -1:
            return 0
        if n < 0 or n > limit:
            raise Malformed(f"{what} length {n}")
        return n

    def bytestring(self, limit: int = MAX_STRING) -> bytes:
        return self.take(self.length("bytestring", limit))

    def string(self, limit: int = TEXT_LIMIT) -> str:
        raw = self.take(self.length("string", MAX_STRING))
        return utf8_text(raw, limit) if raw else ""

    def skip_string(self) -> None:
        self.skip(self.length("string", MAX_STRING))

    def array_len(self) -> int:
        return self.length("array", MAX_ARRAY)

    def strings(self) -> list[str]:
        return [self.string() for _ in range(self.array_len())]

    def datetime(self) -> str:
        """DateTime -> ISO 8601 UTC; 0 and the maximum mean no value (§5.2.2.5): ''."""
        ticks = int.from_bytes(self.take(8), "little", signed=True)
        if ticks <= 0 or ticks >= 2650467743990000000:     # 9999-12-31
            return ""
        return (_EPOCH + timedelta(microseconds=ticks // 10)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def nodeid(self) -> tuple[int, int | str]:
        """NodeId (§5.2.2.9) -> (namespace, identifier): numeric ids as int, others as text."""
        enc = self.u8()
        return self._nodeid_body(enc & 0x0F)

    def _nodeid_body(self, kind: int) -> tuple[int, int | str]:
        if kind == 0:                                   # two-byte
            return 0, self.u8()
        if kind == 1:                                   # four-byte
            ns = self.u8()
            return ns, self.u16le()
        if kind == 2:                                   # numeric
            ns = self.u16le()
            return ns, self.u32le()
        if kind == 3:                                   # string
            ns = self.u16le()
            return ns, "s=" + self.string()
        if kind == 4:                                   # guid
            ns = self.u16le()
            return ns, "g=" + self.take(16).hex()
        if kind == 5:                                   # opaque
            ns = self.u16le()
            return ns, "b=" + self.bytestring().hex()[:64]
        raise Malformed(f"nodeid encoding {kind}")

    def expanded_nodeid(self) -> tuple[int, int | str]:
        """ExpandedNodeId (§5.2.2.10): a NodeId, then a NamespaceUri and a ServerIndex when flagged."""
        enc = self.u8()
        nid = self._nodeid_body(enc & 0x0F)
        if enc & 0x80:
            self.skip_string()
        if enc & 0x40:
            self.skip(4)
        return nid

    def localized_text(self) -> str:
        """LocalizedText (§5.2.2.14) -> its text (the locale is skipped)."""
        mask = self.u8()
        if mask & 0x01:
            self.skip_string()
        return self.string() if mask & 0x02 else ""

    def qualified_name(self) -> str:
        self.skip(2)
        return self.string()

    def diagnostic_info(self, depth: int = 0) -> None:
        """DiagnosticInfo (§5.2.2.12), skipped (bounded recursion)."""
        if depth > MAX_DEPTH:
            raise Malformed("diagnostic info nesting")
        mask = self.u8()
        for bit in (0x01, 0x02, 0x08, 0x04):            # SymbolicId, NamespaceUri, Locale, LocalizedText: Int32
            if mask & bit:
                self.skip(4)
        if mask & 0x10:
            self.skip_string()
        if mask & 0x20:
            self.skip(4)
        if mask & 0x40:
            self.diagnostic_info(depth + 1)

    def extension_object(self) -> tuple[tuple[int, int | str], bytes]:
        """ExtensionObject (§5.2.2.15) -> (type NodeId, the binary body; b'' for none or XML)."""
        tid = self.nodeid()
        enc = self.u8()
        if enc == 0:
            return tid, b""
        if enc not in (1, 2):
            raise Malformed(f"extension object encoding {enc}")
        body = self.bytestring(limit=1 << 20)
        return tid, body if enc == 1 else b""

    def skip_extension_object(self) -> None:
        self.nodeid()
        enc = self.u8()
        if enc in (1, 2):
            self.skip(self.length("extension object", 1 << 20))
        elif enc != 0:
            raise Malformed(f"extension object encoding {enc}")

    def variant(self, depth: int = 0) -> object:
        """Variant (§5.2.2.16) -> a scalar value we use (str, int, BuildInfo...), None for the rest (skipped)."""
        if depth > MAX_DEPTH:
            raise Malformed("variant nesting")
        mask = self.u8()
        vtype = mask & 0x3F
        if mask & 0x80:                                 # array
            n = self.array_len()
            for _ in range(n):
                self._scalar(vtype, depth)
            if mask & 0x40:                             # ArrayDimensions
                self.skip(4 * self.array_len())
            return None
        return self._scalar(vtype, depth)

    def _scalar(self, vtype: int, depth: int) -> object:
        size = FIXED_SIZE.get(vtype)                    # type: ignore[call-overload]
        if size is not None:
            if vtype == VariantType.DATETIME:
                return self.datetime()
            if vtype in (VariantType.UINT32, VariantType.INT32, VariantType.UINT16, VariantType.BYTE):
                return int.from_bytes(self.take(size), "little")
            self.skip(size)
            return None
        if vtype == 0:
            return None
        if vtype in (VariantType.STRING, VariantType.XMLELEMENT):
            return self.string()
        if vtype == VariantType.BYTESTRING:
            self.skip(self.length("bytestring", 1 << 20))
            return None
        if vtype == VariantType.NODEID:
            return self.nodeid()
        if vtype == VariantType.EXPANDEDNODEID:
            return self.expanded_nodeid()
        if vtype == VariantType.QUALIFIEDNAME:
            return self.qualified_name()
        if vtype == VariantType.LOCALIZEDTEXT:
            return self.localized_text()
        if vtype == VariantType.EXTENSIONOBJECT:
            tid, body = self.extension_object()
            return decode_structure(tid, body)
        if vtype == VariantType.DATAVALUE:
            return self.data_value(depth + 1)
        if vtype == VariantType.VARIANT:
            return self.variant(depth + 1)
        if vtype == VariantType.DIAGNOSTICINFO:
            self.diagnostic_info(depth + 1)
            return None
        raise Malformed(f"variant type {vtype}")

    def data_value(self, depth: int = 0) -> object:
        """DataValue (§5.2.2.17) -> its value (None when absent or bad)."""
        mask = self.u8()
        value = self.variant(depth) if mask & 0x01 else None
        status = self.u32le() if mask & 0x02 else 0
        self.skip((8 if mask & 0x04 else 0) + (8 if mask & 0x08 else 0) + (2 if mask & 0x10 else 0)
                  + (2 if mask & 0x20 else 0))
        return None if status & 0x80000000 else value   # a Bad status carries no value to believe


# -- UA TCP messages (§7.1.2) ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Hello:
    version: int
    receive_buffer: int
    send_buffer: int
    max_message: int
    max_chunks: int
    endpoint_url: str


@dataclass(frozen=True, slots=True)
class Ack:
    version: int
    receive_buffer: int
    send_buffer: int
    max_message: int
    max_chunks: int


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReverseHello:
    server_uri: str
    endpoint_url: str


def parse_hello(body: bytes) -> Hello:
    r = UaReader(body)
    return Hello(r.u32le(), r.u32le(), r.u32le(), r.u32le(), r.u32le(), r.string())


def parse_ack(body: bytes) -> Ack:
    r = UaReader(body)
    return Ack(r.u32le(), r.u32le(), r.u32le(), r.u32le(), r.u32le())


def parse_error(body: bytes) -> ErrorMessage:
    r = UaReader(body)
    return ErrorMessage(r.u32le(), r.string())


def parse_reverse_hello(body: bytes) -> ReverseHello:
    r = UaReader(body)
    return ReverseHello(r.string(), r.string())


# -- secure conversation (§6.7.2) ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SecureChunk:
    """An OPN/MSG/CLO chunk after the message header: the channel id, the security header and what follows
    (for OPN the asymmetric header; for MSG/CLO the symmetric token id). ``rest`` is the sequence header and
    body (encrypted when the channel is)."""

    channel_id: int
    policy_uri: str = ""            # OPN only
    sender_cert: bytes = b""        # OPN only (DER, may be a chain)
    token_id: int = 0               # MSG/CLO only
    rest: bytes = b""


def parse_opn(body: bytes) -> SecureChunk:
    r = UaReader(body)
    channel = r.u32le()
    policy = r.string(limit=TEXT_LIMIT)
    cert = r.bytestring(limit=64 * 1024)
    r.skip(r.length("thumbprint", MAX_STRING))
    return SecureChunk(channel, policy_uri=policy, sender_cert=cert, rest=r.rest())


def parse_symmetric(body: bytes) -> SecureChunk:
    r = UaReader(body)
    channel = r.u32le()
    token = r.u32le()
    return SecureChunk(channel, token_id=token, rest=r.rest())


def split_sequence(rest: bytes) -> tuple[int, int, bytes]:
    """The sequence header (SequenceNumber, RequestId) and the body chunk after it (§6.7.2.4)."""
    r = UaReader(rest)
    return r.u32le(), r.u32le(), r.rest()


# -- service bodies (Part 4 §5, encoded per Part 6 §5.2) ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RequestHeader:
    handle: int


@dataclass(frozen=True, slots=True)
class ResponseHeader:
    handle: int
    result: int


def service_id(r: UaReader) -> int | None:
    """The body's type NodeId: the service encoding id when it is a numeric ns=0 NodeId, else None."""
    ns, ident = r.nodeid()
    return ident if ns == 0 and isinstance(ident, int) else None


def request_header(r: UaReader) -> RequestHeader:
    r.nodeid()                                          # AuthenticationToken
    r.skip(8)                                           # Timestamp
    handle = r.u32le()
    r.skip(4)                                           # ReturnDiagnostics
    r.skip_string()                                     # AuditEntryId
    r.skip(4)                                           # TimeoutHint
    r.skip_extension_object()                           # AdditionalHeader
    return RequestHeader(handle)


def response_header(r: UaReader) -> ResponseHeader:
    r.skip(8)                                           # Timestamp
    handle = r.u32le()
    result = r.u32le()
    r.diagnostic_info()
    for _ in range(r.array_len()):                      # StringTable
        r.skip_string()
    r.skip_extension_object()
    return ResponseHeader(handle, result)


@dataclass(frozen=True, slots=True)
class AppDescription:
    """ApplicationDescription (Part 4 §7.2)."""

    application_uri: str
    product_uri: str
    application_name: str
    application_type: int
    discovery_urls: tuple[str, ...] = ()


def app_description(r: UaReader) -> AppDescription:
    uri, product = r.string(), r.string()
    name = r.localized_text()
    atype = r.u32le()
    r.skip_string()                                     # GatewayServerUri
    r.skip_string()                                     # DiscoveryProfileUri
    urls = tuple(r.strings())
    return AppDescription(uri, product, name, atype, urls[:8])


@dataclass(frozen=True, slots=True)
class Endpoint:
    """EndpointDescription (Part 4 §7.14)."""

    url: str
    server: AppDescription
    certificate: bytes
    mode: int
    policy_uri: str


def endpoint(r: UaReader) -> Endpoint:
    url = r.string()
    server = app_description(r)
    cert = r.bytestring(limit=64 * 1024)
    mode = r.u32le()
    policy = r.string()
    for _ in range(r.array_len()):                      # UserIdentityTokens: UserTokenPolicy
        r.skip_string()
        r.skip(4)
        r.skip_string()
        r.skip_string()
        r.skip_string()
    r.skip_string()                                     # TransportProfileUri
    r.skip(1)                                           # SecurityLevel
    return Endpoint(url, server, cert, mode, policy)


def open_channel_request(r: UaReader) -> int:
    """OpenSecureChannelRequest (Part 4 §5.5.2) -> its SecurityMode."""
    request_header(r)
    r.skip(4)                                           # ClientProtocolVersion
    r.skip(4)                                           # RequestType
    return r.u32le()


def get_endpoints_response(r: UaReader) -> tuple[ResponseHeader, list[Endpoint]]:
    h = response_header(r)
    return h, [endpoint(r) for _ in range(r.array_len())]


def find_servers_response(r: UaReader) -> tuple[ResponseHeader, list[AppDescription]]:
    h = response_header(r)
    return h, [app_description(r) for _ in range(r.array_len())]


@dataclass(frozen=True, slots=True)
class CreateSessionRequest:
    handle: int
    client: AppDescription
    server_uri: str
    endpoint_url: str
    session_name: str
    certificate: bytes


def create_session_request(r: UaReader) -> CreateSessionRequest:
    h = request_header(r)
    client = app_description(r)
    server_uri, url, name = r.string(), r.string(), r.string()
    r.skip(r.length("nonce", MAX_STRING))
    cert = r.bytestring(limit=64 * 1024)
    return CreateSessionRequest(h.handle, client, server_uri, url, name, cert)


@dataclass(frozen=True, slots=True)
class CreateSessionResponse:
    header: ResponseHeader
    certificate: bytes
    endpoints: list[Endpoint]


def create_session_response(r: UaReader) -> CreateSessionResponse:
    h = response_header(r)
    r.nodeid()                                          # SessionId
    r.nodeid()                                          # AuthenticationToken
    r.skip(8)                                           # RevisedSessionTimeout
    r.skip(r.length("nonce", MAX_STRING))
    cert = r.bytestring(limit=64 * 1024)
    eps = [endpoint(r) for _ in range(r.array_len())]
    return CreateSessionResponse(h, cert, eps)


def read_request(r: UaReader) -> tuple[RequestHeader, list[tuple[tuple[int, int | str], int]]]:
    """ReadRequest -> header and the (NodeId, AttributeId) read, in order."""
    h = request_header(r)
    r.skip(8 + 4)                                       # MaxAge, TimestampsToReturn
    nodes = []
    for _ in range(r.array_len()):
        nid = r.nodeid()
        attr = r.u32le()
        r.skip_string()                                 # IndexRange
        r.qualified_name()                              # DataEncoding
        nodes.append((nid, attr))
    return h, nodes


def read_response(r: UaReader) -> tuple[ResponseHeader, list[object]]:
    h = response_header(r)
    return h, [r.data_value() for _ in range(r.array_len())]


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """BuildInfo (Part 5 §12.4): also the one piece of ServerStatusDataType we keep."""

    product_uri: str = ""
    manufacturer_name: str = ""
    product_name: str = ""
    software_version: str = ""
    build_number: str = ""
    build_date: str = ""


def build_info(r: UaReader) -> BuildInfo:
    return BuildInfo(r.string(), r.string(), r.string(), r.string(), r.string(), r.datetime())


def decode_structure(tid: tuple[int, int | str], body: bytes) -> object:
    """An ExtensionObject's body for the structures we read (BuildInfo, ServerStatusDataType), else None."""
    if tid == (0, BUILD_INFO_BINARY):
        return build_info(UaReader(body))
    if tid == (0, SERVER_STATUS_BINARY):
        r = UaReader(body)
        r.skip(8 + 8 + 4)                               # StartTime, CurrentTime, State
        return build_info(r)
    return None
