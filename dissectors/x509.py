"""X.509 certificates (RFC 5280) as a passive sensor sees them in TLS and OPC UA handshakes: a bounded DER walk
that pulls out who the certificate names (subject and issuer O/OU/CN/C), its serial, validity and subjectAltName.

Shared by the dissectors that carry certificates (TLS Certificate messages, OPC UA OpenSecureChannel and
endpoint descriptions); it names no protocol. Hostile input: every length is checked against its enclosing
element (dissectors.base.Reader), nesting is bounded, strings are bounded and made printable (base.text), and
anything that is not a certificate gives ``None``; nothing here raises.

Layout (RFC 5280 4.1):  Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
  TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, signature AlgorithmIdentifier,
                                issuer Name, validity SEQUENCE { notBefore, notAfter }, subject Name,
                                subjectPublicKeyInfo, [1] [2] unique ids OPTIONAL, [3] extensions OPTIONAL }
  Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value DirectoryString }
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, Truncated, text

MAX_CERT = 64 * 1024        # a certificate larger than this is not parsed (real ones are 0.5-4 KB)
MAX_ATTRS = 32              # RDN attributes read per Name
MAX_SAN = 16                # subjectAltName entries kept
MAX_STR = 128               # characters kept per value

# universal tags (X.690 8.1.2)
SEQUENCE, SET, INTEGER, OID, UTC_TIME, GEN_TIME, OCTET_STRING, BOOLEAN = 0x30, 0x31, 0x02, 0x06, 0x17, 0x18, 0x04, 0x01
CTX0, CTX3 = 0xA0, 0xA3
# attribute types (RFC 5280 4.1.2.4 / X.520), DER-encoded OID bodies
NAME_OIDS = {bytes.fromhex("550403"): "CN", bytes.fromhex("55040a"): "O", bytes.fromhex("55040b"): "OU",
             bytes.fromhex("550406"): "C", bytes.fromhex("550408"): "ST", bytes.fromhex("550407"): "L",
             bytes.fromhex("550405"): "serialNumber"}
SAN_OID = bytes.fromhex("551d11")        # id-ce-subjectAltName (RFC 5280 4.2.1.6)
URI_SAN, DNS_SAN, IP_SAN = 0x86, 0x82, 0x87   # GeneralName [6] uniformResourceIdentifier, [2] dNSName, [7] iPAddress


@dataclass(frozen=True, slots=True)
class CertSummary:
    subject: dict[str, str]
    issuer: dict[str, str]
    serial: str                  # hex, as tshark shows x509af.serialNumber without separators
    not_before: str              # ISO 8601 UTC, "" when unreadable
    not_after: str
    san: tuple[str, ...] = field(default=())   # "DNS:x", "IP:a.b.c.d", "URI:urn:..."

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    def subject_text(self) -> str:
        return _dn(self.subject)

    def issuer_text(self) -> str:
        return _dn(self.issuer)


def _dn(parts: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in parts.items())


def _tlv(r: Reader) -> tuple[int, Reader]:
    """One DER element: (tag, a reader over its contents). Definite lengths only (X.690 10.1)."""
    tag = r.u8()
    if tag & 0x1F == 0x1F:
        raise Malformed("multi-byte tag")
    n = r.u8()
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 3:
            raise Malformed(f"length of {k} bytes")
        n = int.from_bytes(r.take(k), "big")
    return tag, r.sub(n)


def _expect(r: Reader, tag: int) -> Reader:
    t, body = _tlv(r)
    if t != tag:
        raise Malformed(f"tag 0x{t:02x}, expected 0x{tag:02x}")
    return body


def _string(tag: int, raw: bytes) -> str:
    if tag == 0x1E:                                   # BMPString: UTF-16BE
        return text(raw.decode("utf-16-be", "replace").encode("latin-1", "replace"), MAX_STR)
    if tag == 0x0C:                                   # UTF8String
        return text(raw.decode("utf-8", "replace").encode("latin-1", "replace"), MAX_STR)
    return text(raw, MAX_STR)                         # Printable, IA5, T61, Visible: single-byte


def _name(r: Reader) -> dict[str, str]:
    out: dict[str, str] = {}
    seen = 0
    while r.remaining() and seen < MAX_ATTRS:
        rdn = _expect(r, SET)
        while rdn.remaining() and seen < MAX_ATTRS:
            seen += 1
            atv = _expect(rdn, SEQUENCE)
            oid = _expect(atv, OID).rest()
            tag, val = _tlv(atv)
            key = NAME_OIDS.get(oid)
            if key and key not in out:
                out[key] = _string(tag, val.rest())
    return out


def _time(tag: int, raw: bytes) -> str:
    """UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ -> 'YYYY-MM-DDTHH:MM:SSZ' (RFC 5280 4.1.2.5)."""
    s = raw.decode("ascii", "replace")
    if tag == UTC_TIME and len(s) == 13 and s[:12].isdigit():
        yy = int(s[:2])
        s = ("19" if yy >= 50 else "20") + s
    elif not (tag == GEN_TIME and len(s) == 15 and s[:14].isdigit()):
        return ""
    return f"{s[0:4]}-{s[4:6]}-{s[6:8]}T{s[8:10]}:{s[10:12]}:{s[12:14]}Z"


def _san(ext_value: bytes) -> tuple[str, ...]:
    r = Reader(ext_value)
    names = _expect(r, SEQUENCE)
    out: list[str] = []
    while names.remaining() and len(out) < MAX_SAN:
        tag, val = _tlv(names)
        raw = val.rest()
        if tag == DNS_SAN:
            out.append("DNS:" + text(raw, MAX_STR))
        elif tag == URI_SAN:
            out.append("URI:" + text(raw, MAX_STR))
        elif tag == IP_SAN and len(raw) == 4:
            out.append("IP:" + ".".join(str(b) for b in raw))
    return tuple(out)


def _extensions(r: Reader) -> tuple[str, ...]:
    exts = _expect(_expect(r, CTX3), SEQUENCE)
    while exts.remaining():
        ext = _expect(exts, SEQUENCE)
        oid = _expect(ext, OID).rest()
        tag, body = _tlv(ext)
        if tag == BOOLEAN:                              # critical flag
            tag, body = _tlv(ext)
        if oid == SAN_OID and tag == OCTET_STRING:
            return _san(body.rest())
    return ()


def parse(der: bytes | memoryview) -> CertSummary:
    """A DER certificate -> its summary; raises Truncated/Malformed (use ``summarize`` from a dissector)."""
    if len(der) > MAX_CERT:
        raise Malformed(f"certificate of {len(der)} bytes")
    cert = _expect(Reader(der), SEQUENCE)
    tbs = _expect(cert, SEQUENCE)
    tag, body = _tlv(tbs)
    if tag == CTX0:                                     # [0] EXPLICIT version
        tag, body = _tlv(tbs)
    if tag != INTEGER:
        raise Malformed("no serial number")
    serial = body.rest().lstrip(b"\x00").hex() or "00"
    _expect(tbs, SEQUENCE)                              # signature algorithm
    issuer = _name(_expect(tbs, SEQUENCE))
    validity = _expect(tbs, SEQUENCE)
    t1, v1 = _tlv(validity)
    t2, v2 = _tlv(validity)
    subject = _name(_expect(tbs, SEQUENCE))
    _expect(tbs, SEQUENCE)                              # subjectPublicKeyInfo
    san: tuple[str, ...] = ()
    while tbs.remaining():
        if tbs.buf[tbs.pos] == CTX3:
            san = _extensions(tbs)
            break
        _tlv(tbs)                                       # [1]/[2] unique identifiers
    return CertSummary(subject, issuer, serial[:64], _time(t1, v1.rest()), _time(t2, v2.rest()), san)


def summarize(der: bytes | memoryview) -> CertSummary | None:
    """The summary of a certificate, or None when the bytes are not one (never raises)."""
    try:
        return parse(der)
    except (Truncated, Malformed, ValueError, IndexError):
        return None
