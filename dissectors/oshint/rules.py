"""TTL and TCP SYN option order -> a weak OS family (rules after p0f v3's p0f.fp signatures, reduced to what
tells families apart: the option order and the initial TTL; RFC 793/7323/2018 option kinds).

A value is given only where the rule is specific: TTL 128 is Windows' initial TTL; with TTL 64 the SYN option
order tells Linux, macOS/iOS and the BSDs apart; TTLs 30, 32, 60, 100 and 200 are only used by embedded stacks.
TTL 255 (network gear, but also Solaris/AIX) and TTL 64 without a known order give no family."""

from __future__ import annotations

import struct
from typing import NamedTuple

INITIAL_WINDOWS, INITIAL_UNIX = 128, 64
EMBEDDED_TTLS = frozenset({30, 32, 60, 100, 200})
MAX_OPTIONS = 40                      # TCP options are at most 40 bytes (data offset 15 * 4 - 20)

# option kind -> p0f letter (RFC 793 EOL/NOP/MSS, RFC 7323 WS/TS, RFC 2018 SACK permitted)
_LETTER = {0: "E", 1: "N", 2: "M", 3: "W", 4: "S", 8: "T"}

ORDERS: dict[tuple[int, str], str] = {
    (64, "M,S,T,N,W"): "linux",                 # Linux 2.6+ (p0f: mss,sok,ts,nop,ws)
    (64, "M,N,N,S,N,W"): "linux",               # Linux without timestamps
    (64, "M,N,W,N,N,T,S,E,E"): "macos",         # macOS / iOS (mss,nop,ws,nop,nop,ts,sok,eol,eol)
    (64, "M,N,W,N,N,T,S"): "macos",
    (64, "M,N,W,S,T"): "bsd",                   # FreeBSD
    (64, "M,N,N,S,N,W,N,N,T"): "bsd",           # OpenBSD
}


class Syn(NamedTuple):
    window: int
    order: str                        # option kinds in order, p0f letters ("?<kind>" for others)
    mss: int | None
    wscale: int | None


def parse_syn(hdr: bytes) -> Syn | None:
    """``hdr`` = the TCP window (2 bytes) + the option bytes of a SYN; None when too short. Bounded walk: a
    malformed option ends the list (what was read is kept)."""
    if len(hdr) < 2:
        return None
    window = struct.unpack_from(">H", hdr)[0]
    opts = hdr[2:2 + MAX_OPTIONS]
    order, mss, ws, i = [], None, None, 0
    while i < len(opts):
        kind = opts[i]
        order.append(_LETTER.get(kind, f"?{kind}"))
        if kind in (0, 1):
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2 or i + opts[i + 1] > len(opts):
            break
        n = opts[i + 1]
        if kind == 2 and n == 4:
            mss = struct.unpack_from(">H", opts, i + 2)[0]
        elif kind == 3 and n == 3:
            ws = opts[i + 2]
        i += n
    return Syn(window, ",".join(order), mss, ws)


def normalize(hdr: bytes) -> bytes:
    """A SYN's window + options with the timestamp values zeroed (they change with every SYN; the C fast path
    does the same before it compares SYNs): one stack's SYNs are then the same bytes."""
    b = bytearray(hdr[:2 + MAX_OPTIONS])
    i, n = 2, len(b)
    while i < n:
        kind = b[i]
        if kind in (0, 1):
            i += 1
            continue
        if i + 1 >= n or b[i + 1] < 2 or i + b[i + 1] > n:
            break
        if kind == 8:
            b[i + 2:i + b[i + 1]] = bytes(b[i + 1] - 2)
        i += b[i + 1]
    return bytes(b)


def fingerprint(ttl: int, syn: Syn) -> str:
    """The raw value: ``ttl:window:order:mss:wscale`` (``-`` for an absent option)."""
    return f"{ttl}:{syn.window}:{syn.order or '-'}:{syn.mss if syn.mss is not None else '-'}:" \
           f"{syn.wscale if syn.wscale is not None else '-'}"


def os_family(ttl: int, syn: Syn | None) -> str | None:
    """The weak family the initial TTL (and the SYN's option order) point to, None when they do not say."""
    if ttl == INITIAL_WINDOWS:
        return "windows"
    if ttl in EMBEDDED_TTLS:
        return "embedded"
    if syn is not None:
        return ORDERS.get((ttl, syn.order))
    return None
