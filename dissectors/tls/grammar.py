"""TLS wire grammar: record headers (RFC 5246 6.2.1, RFC 8446 5.1), handshake message headers (RFC 5246 7.4),
ClientHello / ServerHello with their extensions (RFC 5246 7.4.1, RFC 8446 4.1.2-4.1.3, RFC 6066 3 SNI, RFC 7301
ALPN, RFC 8446 4.2.1 supported_versions, 4.2.3 signature_algorithms) and the Certificate message (RFC 5246
7.4.2: a 3-byte-length list of 3-byte-length DER certificates; RFC 8446 4.4.2 adds a context and per-entry
extensions). Pure bytes -> dataclasses; every length is checked against its enclosing element (Reader)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.tls.constants import (HANDSHAKE_HEADER, HRR_RANDOM, MAX_CHAIN, MAX_LIST, MAX_RECORD,
                                              PER_CONNECTION_EXTS, RECORD_HEADER, TLS13, ContentType, Ext, is_grease)

__all__ = ["ClientHello", "RecordHeader", "ServerHello", "Truncated", "Malformed", "parse_certificates",
           "parse_client_hello", "parse_record_header", "parse_server_hello", "record_ok"]

_CONTENT = frozenset(ContentType)

_HH = struct.Struct(">HH").unpack_from
_LISTS = tuple(struct.Struct(f">{k}H").unpack_from for k in range(MAX_LIST + 1))


def _truncated(pos: int, n: int, end: int) -> Truncated:
    return Truncated(f"need {n} bytes at offset {pos}, have {end - pos}")


@dataclass(frozen=True, slots=True)
class RecordHeader:
    type: int
    version: int
    length: int


_RECORD = struct.Struct(">BHH").unpack_from


def parse_record_header(buf: bytes, pos: int = 0) -> RecordHeader:
    """type(1) version(2) length(2) (RFC 5246 6.2.1)."""
    if pos + RECORD_HEADER > len(buf):
        raise _truncated(pos, RECORD_HEADER, len(buf))
    return RecordHeader(*_RECORD(buf, pos))


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


def _u16_list(buf: bytes, pos: int, end: int, width: int) -> tuple[tuple[int, ...], int]:
    """A vector of 2-byte big-endian values with a ``width``-byte length at ``pos`` (inside ``end``): its first
    MAX_LIST values and the offset after it."""
    if pos + width > end:
        raise _truncated(pos, width, end)
    n = buf[pos] if width == 1 else (buf[pos] << 8) | buf[pos + 1]
    if n % 2:
        raise Malformed(f"odd list length {n}")
    pos += width
    if pos + n > end:
        raise _truncated(pos, n, end)
    return _LISTS[min(n >> 1, MAX_LIST)](buf, pos), pos + n


def _vector(buf: bytes, pos: int, end: int, width: int) -> tuple[int, int]:
    """(start, end) of the body of a vector with a ``width``-byte length at ``pos``, checked against ``end``."""
    if pos + width > end:
        raise _truncated(pos, width, end)
    n = buf[pos] if width == 1 else (buf[pos] << 8) | buf[pos + 1]
    start = pos + width
    if start + n > end:
        raise _truncated(start, n, end)
    return start, start + n


def _sni(buf: bytes, pos: int, end: int) -> str:
    """RFC 6066 3: ServerNameList { NameType(1) HostName<1..2^16-1> }: the first host_name (type 0)."""
    pos, lend = _vector(buf, pos, end, 2)
    while pos < lend:
        kind = buf[pos]
        start, pos = _vector(buf, pos + 1, lend, 2)
        if kind == 0:
            return text(buf[start:pos], 255)
    return ""


def _alpn(buf: bytes, pos: int, end: int) -> tuple[bytes, ...]:
    """RFC 7301 3.1: ProtocolNameList { ProtocolName<1..2^8-1> } (a 2-byte list length)."""
    pos, lend = _vector(buf, pos, end, 2)
    out = []
    while pos < lend and len(out) < MAX_LIST:
        start, pos = _vector(buf, pos, lend, 1)
        if start == pos:
            raise Malformed("empty ALPN protocol name")
        out.append(buf[start:pos])
    return tuple(out)


def _extensions(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """(start, end) of a hello's extensions block (RFC 5246 7.4.1.4); (end, end) when the hello has none."""
    if pos >= end:
        return end, end
    return _vector(buf, pos, end, 2)


def parse_client_hello(body: bytes, unused: list[tuple[int, int]] | None = None) -> ClientHello:
    """RFC 5246 7.4.1.2 / RFC 8446 4.1.2: version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
    compression_methods<1..2^8-1> [extensions<8..2^16-1>]. Offsets and lengths by hand (a hello is read for
    every TLS connection: no Reader object per field); every length is checked against its enclosing vector.
    ``unused``: gets the (start, end) ranges no field of the result depends on (random, session id, the
    contents of PER_CONNECTION_EXTS)."""
    end = len(body)
    if end < 35:
        raise _truncated(0, 35, end)
    legacy = (body[0] << 8) | body[1]
    _, pos = _vector(body, 34, end, 1)                  # legacy_session_id
    if unused is not None:
        unused += ((2, 34), (35, pos))
    ciphers, pos = _u16_list(body, pos, end, 2)
    _, pos = _vector(body, pos, end, 1)                 # compression methods
    pos, eend = _extensions(body, pos, end)
    exts: list[int] = []
    sni, alpn, versions, sig = "", (), (), ()           # type: ignore[var-annotated]
    while pos < eend:
        if len(exts) >= MAX_LIST:
            break
        if pos + 4 > eend:
            raise _truncated(pos, 4, eend)
        etype, n = _HH(body, pos)
        pos += 4
        dend = pos + n
        if dend > eend:
            raise _truncated(pos, n, eend)
        exts.append(etype)
        if etype in PER_CONNECTION_EXTS:
            if unused is not None and n:
                unused.append((pos, dend))
        elif etype == Ext.SERVER_NAME:
            if n:
                sni = _sni(body, pos, dend)
        elif etype == Ext.ALPN:
            alpn = _alpn(body, pos, dend)
        elif etype == Ext.SUPPORTED_VERSIONS:
            versions, _ = _u16_list(body, pos, dend, 1)
        elif etype == Ext.SIGNATURE_ALGORITHMS:
            sig, _ = _u16_list(body, pos, dend, 2)
        pos = dend
    return ClientHello(legacy, ciphers, tuple(exts), sni, tuple(text(a, 64) for a in alpn), alpn, versions, sig)


def parse_server_hello(body: bytes, unused: list[tuple[int, int]] | None = None) -> ServerHello:
    """RFC 5246 7.4.1.3 / RFC 8446 4.1.3 (a supported_versions extension carries the negotiated version):
    version(2) random(32) session_id<0..32> cipher_suite(2) compression_method(1) [extensions]. ``unused``:
    as for parse_client_hello (not the random of a HelloRetryRequest: it is what makes one)."""
    end = len(body)
    if end < 35:
        raise _truncated(0, 35, end)
    legacy = (body[0] << 8) | body[1]
    random = body[2:34]
    _, pos = _vector(body, 34, end, 1)                  # session id
    if unused is not None:
        unused.append((35, pos))
        if random != HRR_RANDOM:
            unused.append((2, 34))
    if pos + 3 > end:
        raise _truncated(pos, 3, end)
    cipher = (body[pos] << 8) | body[pos + 1]
    pos, eend = _extensions(body, pos + 3, end)         # (after the compression method)
    selected = None
    exts: list[int] = []
    while pos < eend and len(exts) < MAX_LIST:
        if pos + 4 > eend:
            raise _truncated(pos, 4, eend)
        etype, n = _HH(body, pos)
        pos += 4
        if pos + n > eend:
            raise _truncated(pos, n, eend)
        exts.append(etype)
        if etype in PER_CONNECTION_EXTS:
            if unused is not None and n:
                unused.append((pos, pos + n))
        elif etype == Ext.SUPPORTED_VERSIONS:
            if n < 2:
                raise _truncated(pos, 2, pos + n)
            selected = (body[pos] << 8) | body[pos + 1]
        pos += n
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
    if pos + HANDSHAKE_HEADER > len(buf):
        raise _truncated(pos, HANDSHAKE_HEADER, len(buf))
    return buf[pos], (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]
