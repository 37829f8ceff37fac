"""DNP3 grammar: bytes -> dataclasses (pure; raises Truncated / Malformed).

Layers (IEEE 1815-2012): the data link frame (clause 9: start 0x05 0x64, length, control, destination, source,
header CRC, user data in CRC-protected blocks of 16 octets), the transport segment header (clause 8: FIN, FIR,
sequence), the application fragment (clause 4.2.2: application control, function code, IIN in responses, object
headers) and the group 0 device attribute objects (annex A.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, Truncated
from otscope.dissectors.dnp3.constants import (AC_CON, AC_FIN, AC_FIR, AC_UNS, BLOCK, DIR, FCB, FCV_DFC,
                                               HEADER_LEN, LINK_FUNC, MAX_ATTRIBUTES, MIN_LENGTH, PRM, RESPONSES,
                                               START, TR_FIN, TR_FIR, TR_SEQ)


class BadStart(Malformed):
    """The octets where a frame should begin are not 0x05 0x64 (9.2.4.1.1)."""


class BadLength(Malformed):
    """The length field is below 5 (9.2.4.1.2)."""


class BadHeaderCrc(Malformed):
    """The CRC over the eight header octets does not match (9.2.4.1.6)."""


def _crc_table() -> tuple[int, ...]:
    """CRC-16/DNP (9.2.4.1.6): polynomial x^16+x^13+x^12+x^11+x^10+x^8+x^6+x^5+x^2+1, reflected (0xA6BC)."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes | memoryview) -> int:
    """The DNP3 CRC of ``data`` (complemented; sent low octet first)."""
    crc = 0
    table = _TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return ~crc & 0xFFFF


def _crc_ok(buf: bytes | memoryview, start: int, end: int) -> bool:
    """The CRC of buf[start:end] equals the two octets after it (little-endian)."""
    c = crc16(buf[start:end])
    return buf[end] == c & 0xFF and buf[end + 1] == c >> 8


def frame_size(length: int) -> int:
    """Octets of a whole link frame whose length field is ``length`` (9.2.4.1.2)."""
    user = length - MIN_LENGTH
    return HEADER_LEN + user + 2 * ((user + BLOCK - 1) // BLOCK)


@dataclass(frozen=True, slots=True)
class LinkFrame:
    control: int
    destination: int
    source: int
    user_data: bytes             # the user data with the block CRCs removed (empty when a block CRC failed)
    bad_blocks: int              # user-data blocks whose CRC failed (the user data is then unusable)
    size: int                    # octets the frame occupies on the wire

    @property
    def from_master(self) -> bool:
        return bool(self.control & DIR)

    @property
    def primary(self) -> bool:
        return bool(self.control & PRM)

    @property
    def function(self) -> int:
        return self.control & LINK_FUNC

    @property
    def fcb_fcv(self) -> tuple[bool, bool]:
        return bool(self.control & FCB), bool(self.control & FCV_DFC)


def parse_link_frame(buf: bytes | memoryview, pos: int = 0) -> LinkFrame:
    """One link frame at ``pos``: Truncated when the bytes end first (more are needed), Malformed when the start
    octets, the length or the header CRC are wrong. A failed user-data block CRC is reported, not raised: the
    frame is still framed by its length."""
    n = len(buf)
    if n - pos < HEADER_LEN:
        if buf[pos:pos + 2] not in (START, START[:1], b""):
            raise BadStart("no 0x05 0x64 start")
        raise Truncated(f"link header needs {HEADER_LEN} octets, have {n - pos}")
    if buf[pos] != START[0] or buf[pos + 1] != START[1]:
        raise BadStart(f"start 0x{buf[pos]:02x}{buf[pos + 1]:02x} (0x0564)")
    length = buf[pos + 2]
    if length < MIN_LENGTH:
        raise BadLength(f"length {length} < {MIN_LENGTH}")
    if not _crc_ok(buf, pos, pos + 8):
        raise BadHeaderCrc("header CRC")
    size = frame_size(length)
    if n - pos < size:
        raise Truncated(f"frame of {size} octets, have {n - pos}")
    control = buf[pos + 3]
    dst = buf[pos + 4] | buf[pos + 5] << 8
    src = buf[pos + 6] | buf[pos + 7] << 8
    user = bytearray()
    bad = 0
    p, left = pos + HEADER_LEN, length - MIN_LENGTH
    while left > 0:
        k = min(BLOCK, left)
        if _crc_ok(buf, p, p + k):
            user += buf[p:p + k]
        else:
            bad += 1
        p += k + 2
        left -= k
    return LinkFrame(control, dst, src, b"" if bad else bytes(user), bad, size)


def build_frame(control: int, dst: int, src: int, user: bytes = b"") -> bytes:
    """A link frame with its CRCs (for tests and the hand-made outstation; the dissector never sends)."""
    if len(user) > 250:
        raise ValueError("at most 250 octets of user data")
    head = bytes((START[0], START[1], MIN_LENGTH + len(user), control, dst & 0xFF, dst >> 8, src & 0xFF, src >> 8))
    out = bytearray(head + crc16(head).to_bytes(2, "little"))
    for i in range(0, len(user), BLOCK):
        block = user[i:i + BLOCK]
        out += block + crc16(block).to_bytes(2, "little")
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Segment:
    fin: bool
    fir: bool
    seq: int
    data: bytes


def parse_segment(user: bytes) -> Segment:
    """The transport header (8.2.1) and its data; a segment carries at least the header octet."""
    if not user:
        raise Truncated("empty transport segment")
    h = user[0]
    return Segment(bool(h & TR_FIN), bool(h & TR_FIR), h & TR_SEQ, user[1:])


@dataclass(frozen=True, slots=True)
class Apdu:
    control: int
    function: int
    iin: int | None              # internal indications (responses only, 4.2.2.6)
    objects: bytes               # object headers and data after the application header

    @property
    def first_last(self) -> tuple[bool, bool]:
        return bool(self.control & AC_FIR), bool(self.control & AC_FIN)

    @property
    def confirm_unsolicited(self) -> tuple[bool, bool]:
        return bool(self.control & AC_CON), bool(self.control & AC_UNS)

    @property
    def seq(self) -> int:
        return self.control & 0x0F


def parse_apdu(fragment: bytes) -> Apdu:
    """Application header (4.2.2): control, function code, and for a response the two IIN octets."""
    r = Reader(fragment)
    control, fc = r.u8(), r.u8()
    iin = r.u16be() if fc in RESPONSES else None
    return Apdu(control, fc, iin, r.rest())


@dataclass(frozen=True, slots=True)
class Attribute:
    variation: int
    index: int
    data_type: int
    value: bytes


def _range(r: Reader, qualifier: int) -> tuple[list[int] | None, int]:
    """Indexes (when the range gives them) and point count of an object header (4.2.2.7.3)."""
    code = qualifier & 0x0F
    prefix = qualifier >> 4 & 0x07
    if code == 0x00:
        start, stop = r.u8(), r.u8()
    elif code == 0x01:
        start, stop = r.u16le(), r.u16le()
    elif code == 0x07:
        return None, r.u8()
    elif code == 0x08:
        return None, r.u16le()
    else:
        raise Malformed(f"qualifier 0x{qualifier:02x} not used by group 0")
    if prefix:
        raise Malformed(f"qualifier 0x{qualifier:02x}: prefix with a start/stop range")
    if stop < start:
        raise Malformed(f"range {start}..{stop}")
    return list(range(start, stop + 1)), stop - start + 1


def parse_device_attributes(objects: bytes) -> list[Attribute]:
    """Group 0 objects at the start of a response's object data (A.1): each a header (group 0, variation,
    qualifier, range) and per point a data type, a length and the value. Parsing stops at the first object of
    another group (its size depends on tables this dissector does not hold); a group 0 object that does not
    parse raises Malformed or Truncated."""
    r = Reader(objects)
    out: list[Attribute] = []
    while r.remaining() >= 3 and objects[r.pos] == 0 and len(out) < MAX_ATTRIBUTES:
        r.u8()
        variation, qualifier = r.u8(), r.u8()
        indexes, count = _range(r, qualifier)
        prefix = qualifier >> 4 & 0x07
        if count > MAX_ATTRIBUTES:
            raise Malformed(f"{count} group 0 points")
        for i in range(count):
            if prefix == 1:
                index = r.u8()
            elif prefix == 2:
                index = r.u16le()
            elif prefix == 0:
                index = indexes[i] if indexes is not None else 0
            else:
                raise Malformed(f"qualifier 0x{qualifier:02x}: prefix code {prefix}")
            dtype, n = r.u8(), r.u8()
            out.append(Attribute(variation, index, dtype, r.take(n)))
    return out
