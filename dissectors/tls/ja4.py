"""JA4 TLS client fingerprint (FoxIO JA4 technical details, github.com/FoxIO-LLC/ja4 technical_details/JA4.md),
computed from a parsed ClientHello:

``JA4_a _ JA4_b _ JA4_c``:
  JA4_a = protocol ("t": TLS over TCP) + version (highest supported_versions value, else the hello's legacy
          version: 13, 12, 11, 10, s3, 00 for others) + "d" when a server_name extension is present else "i" +
          cipher count (2 digits, max 99) + extension count (2 digits, max 99) + first and last character of the
          first ALPN value ("00" without ALPN; the first and last hex digit of the value when either end byte is
          not an ASCII letter or digit);
  JA4_b = the first 12 hex digits of sha256 of the cipher suites as 4-digit lowercase hex, sorted, joined by ",";
  JA4_c = the first 12 hex digits of sha256 of the extension types sorted (server_name 0x0000 and ALPN 0x0010
          removed), "_", and the signature algorithms in wire order (no "_" part when there are none).
GREASE values (RFC 8701) are ignored everywhere; an empty list hashes to "000000000000".
"""

from __future__ import annotations

import hashlib

from otscope.dissectors.tls.constants import GREASE, Ext
from otscope.dissectors.tls.grammar import ClientHello

_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
             0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
EMPTY = "000000000000"


def _hash(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:12] if s else EMPTY


def _alnum(b: int) -> bool:
    return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def _alpn_chars(raw: tuple[bytes, ...]) -> str:
    if not raw or not raw[0]:
        return "00"
    v = raw[0]
    if _alnum(v[0]) and _alnum(v[-1]):
        return chr(v[0]) + chr(v[-1])
    h = v.hex()
    return h[0] + h[-1]


def ja4_raw(h: ClientHello) -> tuple[str, str, str]:
    """(JA4_a, the cipher list, the extension+signature string) before hashing (JA4_r)."""
    ciphers = [c for c in h.ciphers if c not in GREASE]
    exts = [e for e in h.extensions if e not in GREASE]
    version = _VERSIONS.get(h.highest_version, "00")
    sni = "d" if Ext.SERVER_NAME in exts else "i"
    a = f"t{version}{sni}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{_alpn_chars(h.alpn_raw)}"
    c_str = ",".join(sorted(f"{c:04x}" for c in ciphers))
    e_str = ",".join(sorted(f"{e:04x}" for e in exts if e not in (Ext.SERVER_NAME, Ext.ALPN)))
    sig = ",".join(f"{s:04x}" for s in h.sig_algs if s not in GREASE)
    if sig and e_str:
        e_str = f"{e_str}_{sig}"
    return a, c_str, e_str


MEMO = 4096                     # fingerprints remembered (a client program sends the same hello shape each time)
_memo: dict[tuple, str] = {}


def ja4(h: ClientHello) -> str:
    """JA4 of a hello; memoised by the hello's fingerprinted fields (the value is a pure function of them)."""
    key = (h.ciphers, h.extensions, h.highest_version, h.alpn_raw[:1], h.sig_algs)
    got = _memo.get(key)
    if got is None:
        a, c_str, e_str = ja4_raw(h)
        got = f"{a}_{_hash(c_str)}_{_hash(e_str)}"
        if len(_memo) >= MEMO:
            _memo.clear()
        _memo[key] = got
    return got
