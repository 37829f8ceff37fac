"""TLS wire grammar: record headers (RFC 5246 6.2.1, RFC 8446 5.1), handshake message headers (RFC 5246 7.4),
ClientHello / ServerHello with their extensions (RFC 5246 7.4.1, RFC 8446 4.1.2-4.1.3, RFC 6066 3 SNI, RFC 7301
ALPN, RFC 8446 4.2.1 supported_versions, 4.2.3 signature_algorithms) and the Certificate message (RFC 5246
7.4.2: a 3-byte-length list of 3-byte-length DER certificates; RFC 8446 4.4.2 adds a context and per-entry
extensions). Pure bytes -> dataclasses; every length is checked against its enclosing element (Reader)."""

from __future__ import annotations

from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.tls.constants import (HANDSHAKE_HEADER, HRR_RANDOM, MAX_CHAIN, MAX_LIST, MAX_RECORD,
                                              RECORD_HEADER, TLS13, ContentType, Ext, is_grease)

__all__ = ["ClientHello", "RecordHeader", "ServerHello", "Truncated", "Malformed", "parse_certificates",
           "parse_client_hello", "parse_record_header", "parse_server_hello", "record_ok"]

_CONTENT = frozenset(ContentType)


@dataclass(frozen=True, slots=True)
class RecordHeader:
    type: int
    version: int
    length: int


def parse_record_header(buf: bytes, pos: int = 0) -> RecordHeader:
    r = Reader(buf, pos, pos + RECORD_HEADER)
    return RecordHeader(r.u8(), r.u16be(), r.u16be())


def record_ok(h: RecordHeader) -> bool:
    """A plausible TLS record header: a known content type, a 3.x version (SSL 3.0 .. TLS 1.3's legacy 0x0303;
    RFC 8446 5.1 allows 0x0301 in a first ClientHello) and a length within the ciphertext bound."""
    return h.type in _CONTENT and h.version >> 8 == 3 and (h.version & 0xFF) <= 4 and 0 < h.length <= MAX_RECORD


@dataclass(frozen=True, slots=True)
class ClientHello:
    legacy_version: int
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]                 # extension types in wire order (GREASE included)
    sni: str = ""
    alpn: tuple[str, ...] = ()
    alpn_raw: tuple[bytes, ...] = ()
    versions: tuple[int, ...] = ()              # supported_versions (wire order)
    sig_algs: tuple[int, ...] = ()              # signature_algorithms (wire order)

    @property
    def highest_version(self) -> int:
        """The highest version offered, GREASE ignored: supported_versions when present (RFC 8446 4.2.1),
        else the legacy field."""
        vs = [v for v in self.versions if not is_grease(v)]
        return max(vs) if vs else self.legacy_version


@dataclass(frozen=True, slots=True)
class ServerHello:
    legacy_version: int
    cipher: int
    selected_version: int | None                # supported_versions in a ServerHello (TLS 1.3)
    retry: bool = False                         # a HelloRetryRequest (RFC 8446 4.1.3)
    extensions: tuple[int, ...] = field(default=())

    @property
    def version(self) -> int:
        return self.selected_version if self.selected_version is not None else self.legacy_version

    @property
    def tls13(self) -> bool:
        return self.version == TLS13


def _u16_list(r: Reader, n: int) -> tuple[int, ...]:
    if n % 2:
        raise Malformed(f"odd list length {n}")
    body = r.sub(n)
    out = []
    while body.remaining() and len(out) < MAX_LIST:
        out.append(body.u16be())
    return tuple(out)


def _sni(data: Reader) -> str:
    """RFC 6066 3: ServerNameList { NameType(1) HostName<1..2^16-1> }: the first host_name (type 0)."""
    lst = data.sub(data.u16be())
    while lst.remaining():
        kind = lst.u8()
        name = lst.take(lst.u16be())
        if kind == 0:
            return text(name, 255)
    return ""


def _alpn(data: Reader) -> tuple[bytes, ...]:
    """RFC 7301 3.1: ProtocolNameList { ProtocolName<1..2^8-1> } (a 2-byte list length)."""
    lst = data.sub(data.u16be())
    out = []
    while lst.remaining() and len(out) < MAX_LIST:
        n = lst.u8()
        if n == 0:
            raise Malformed("empty ALPN protocol name")
        out.append(lst.take(n))
    return tuple(out)


def parse_client_hello(body: bytes) -> ClientHello:
    """RFC 5246 7.4.1.2 / RFC 8446 4.1.2."""
    r = Reader(body)
    legacy = r.u16be()
    r.skip(32)                                          # random
    r.skip(r.u8())                                      # legacy_session_id
    n = r.u16be()
    ciphers = _u16_list(r, n)
    r.skip(r.u8())                                      # compression methods
    exts: list[int] = []
    sni, alpn, versions, sig = "", (), (), ()           # type: ignore[var-annotated]
    if r.remaining():
        er = r.sub(r.u16be())
        while er.remaining():
            if len(exts) >= MAX_LIST:
                break
            etype = er.u16be()
            data = er.sub(er.u16be())
            exts.append(etype)
            if etype == Ext.SERVER_NAME and data.remaining():
                sni = _sni(data)
            elif etype == Ext.ALPN:
                alpn = _alpn(data)
            elif etype == Ext.SUPPORTED_VERSIONS:
                versions = _u16_list(data, data.u8())
            elif etype == Ext.SIGNATURE_ALGORITHMS:
                sig = _u16_list(data, data.u16be())
    return ClientHello(legacy, ciphers, tuple(exts), sni, tuple(text(a, 64) for a in alpn), alpn, versions, sig)


def parse_server_hello(body: bytes) -> ServerHello:
    """RFC 5246 7.4.1.3 / RFC 8446 4.1.3 (a supported_versions extension carries the negotiated version)."""
    r = Reader(body)
    legacy = r.u16be()
    random = r.take(32)
    r.skip(r.u8())                                      # session id
    cipher = r.u16be()
    r.u8()                                              # compression method
    selected = None
    exts: list[int] = []
    if r.remaining():
        er = r.sub(r.u16be())
        while er.remaining() and len(exts) < MAX_LIST:
            etype = er.u16be()
            data = er.sub(er.u16be())
            exts.append(etype)
            if etype == Ext.SUPPORTED_VERSIONS:
                selected = data.u16be()
    return ServerHello(legacy, cipher, selected, random == HRR_RANDOM, tuple(exts))


def parse_certificates(body: bytes, tls13: bool = False) -> tuple[list[bytes], int]:
    """The DER certificates of a Certificate message (at most MAX_CHAIN) and how many the list holds."""
    r = Reader(body)
    if tls13:
        r.skip(r.u8())                                  # certificate_request_context
    lst = r.sub(_u24(r))
    certs: list[bytes] = []
    total = 0
    while lst.remaining():
        der = lst.take(_u24(lst))
        if tls13:
            lst.skip(lst.u16be())                       # per-entry extensions
        total += 1
        if len(certs) < MAX_CHAIN:
            certs.append(der)
    return certs, total


def _u24(r: Reader) -> int:
    return (r.u8() << 16) | r.u16be()


def handshake_header(buf: bytes, pos: int) -> tuple[int, int]:
    """(msg_type, length) of the handshake message at ``pos`` (RFC 5246 7.4)."""
    r = Reader(buf, pos, pos + HANDSHAKE_HEADER)
    return r.u8(), _u24(r)
