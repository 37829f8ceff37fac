"""The DNS message format (RFC 1035 4.1), shared by NetBIOS name service (RFC 1002 4.2), mDNS (RFC 6762) and
LLMNR (RFC 4795): a 12-byte header, then questions and resource records whose names may be compressed.

Bounds: at most ``MAX_RECORDS`` records per section are read (the rest of the message is not needed for identity);
a name is at most 255 octets (RFC 1035 2.3.4) and 128 labels; a compression pointer must point *before* the
label that holds it (RFC 1035 4.1.4 "a prior occurrence"), so a loop cannot exist, and at most ``MAX_JUMPS``
pointers are followed per name. A pointer forward or onto itself is ``Malformed("loop")``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Truncated

HEADER = struct.Struct(">HHHHHH")
RR_FIXED = struct.Struct(">HHIH")
MAX_RECORDS = 64
MAX_NAME = 255
MAX_LABELS = 128
MAX_JUMPS = 16


class PointerLoop(Malformed):
    """A compression pointer that does not point to a prior occurrence (a loop, or a forward jump)."""


@dataclass(slots=True)
class Question:
    labels: tuple[bytes, ...]
    qtype: int
    qclass: int


@dataclass(slots=True)
class Rr:
    labels: tuple[bytes, ...]
    rtype: int
    rclass: int
    ttl: int
    rdata: bytes
    rdata_at: int             # offset of rdata in the message (names inside rdata are compressed against it)


@dataclass(slots=True)
class DnsMessage:
    ident: int
    flags: int
    counts: tuple[int, int, int, int]
    questions: list[Question] = field(default_factory=list)
    answers: list[Rr] = field(default_factory=list)
    authority: list[Rr] = field(default_factory=list)
    additional: list[Rr] = field(default_factory=list)

    @property
    def response(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0x0F

    @property
    def rcode(self) -> int:
        return self.flags & 0x0F

    def records(self) -> list[Rr]:
        return self.answers + self.authority + self.additional


def read_name(buf: bytes, pos: int) -> tuple[tuple[bytes, ...], int]:
    """The labels of the name at ``pos`` and the offset after it (after the first pointer, if any)."""
    labels: list[bytes] = []
    total = 0
    end: int | None = None
    jumps = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise Truncated("name runs past the message")
        length = buf[pos]
        if length == 0:
            if end is None:
                end = pos + 1
            return tuple(labels), end
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= n:
                raise Truncated("compression pointer cut")
            target = ((length & 0x3F) << 8) | buf[pos + 1]
            if target >= pos:
                raise PointerLoop("compression pointer does not point backwards")
            jumps += 1
            if jumps > MAX_JUMPS:
                raise PointerLoop("too many compression pointers")
            if end is None:
                end = pos + 2
            pos = target
            continue
        if kind:
            raise Malformed(f"label type 0x{kind:02x} (RFC 6891 extended labels are not names)")
        if pos + 1 + length > n:
            raise Truncated("label runs past the message")
        total += length + 1
        if total > MAX_NAME or len(labels) >= MAX_LABELS:
            raise Malformed("name longer than 255 octets")
        labels.append(buf[pos + 1:pos + 1 + length])
        pos += 1 + length


def _records(buf: bytes, pos: int, count: int, into: list[Rr]) -> int:
    for _ in range(count):
        labels, pos = read_name(buf, pos)
        if pos + 10 > len(buf):
            raise Truncated("resource record header cut")
        rtype, rclass, ttl, rdlen = RR_FIXED.unpack_from(buf, pos)
        pos += 10
        if pos + rdlen > len(buf):
            raise Truncated("resource record data cut")
        if len(into) < MAX_RECORDS:
            into.append(Rr(labels, rtype, rclass, ttl, buf[pos:pos + rdlen], pos))
        pos += rdlen
    return pos


def parse(data: bytes) -> DnsMessage:
    buf = bytes(data)
    if len(buf) < HEADER.size:
        raise Truncated("DNS header")
    ident, flags, qd, an, ns, ar = HEADER.unpack_from(buf, 0)
    msg = DnsMessage(ident, flags, (qd, an, ns, ar))
    if qd + an + ns + ar > 4 * MAX_RECORDS:
        raise Malformed(f"{qd + an + ns + ar} records in one message")
    pos = HEADER.size
    for _ in range(qd):
        labels, pos = read_name(buf, pos)
        if pos + 4 > len(buf):
            raise Truncated("question cut")
        qtype, qclass = struct.unpack_from(">HH", buf, pos)
        pos += 4
        msg.questions.append(Question(labels, qtype, qclass))
    pos = _records(buf, pos, an, msg.answers)
    pos = _records(buf, pos, ns, msg.authority)
    _records(buf, pos, ar, msg.additional)
    return msg
