"""IEC 60870-5-104 grammar: one APDU's bytes -> dataclasses (pure; raises Truncated / Malformed)."""

from __future__ import annotations

from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, Truncated
from otscope.dissectors.iec104.constants import (APCI_START, APDU_MAX_LEN, APDU_MIN_LEN, ASDU_HEADER_LEN,
                                                 ApciFormat, UFunction)


@dataclass(frozen=True, slots=True)
class Asdu:
    """101 7.1 data unit identifier (104 7: COT and common address two octets each)."""

    type_id: int
    sequence: bool            # VSQ bit 8 (SQ): the objects are one IOA and consecutive elements
    count: int                # VSQ bits 1-7: number of objects or elements
    cause: int                # 101 7.2.3: bits 1-6
    negative: bool            # P/N bit
    test: bool                # T bit
    originator: int           # 104 7: second COT octet
    common_address: int       # 101 7.2.4, little-endian (two octets in 104)


@dataclass(frozen=True, slots=True)
class Apdu:
    format: ApciFormat
    send_seq: int             # I format only (104 5.2, 15 bits)
    recv_seq: int             # I and S formats
    function: UFunction | None   # U format only
    asdu: Asdu | None         # I format only


def apdu_length(buf: bytes | memoryview, pos: int) -> int:
    """The whole APDU's length (start and length octets included) at ``pos``: 104 5.1, the length octet counts
    the four control octets and the ASDU, 4..253. Raises Malformed for a bad start or length."""
    if buf[pos] != APCI_START:
        raise Malformed(f"start octet 0x{buf[pos]:02x} (IEC 104 is 0x68)")
    n = buf[pos + 1]
    if not APDU_MIN_LEN <= n <= APDU_MAX_LEN:
        raise Malformed(f"APDU length {n} outside {APDU_MIN_LEN}..{APDU_MAX_LEN}")
    return n + 2


def parse_apdu(data: bytes) -> Apdu:
    """One whole APDU (as framed by apdu_length)."""
    r = Reader(data)
    if r.u8() != APCI_START:
        raise Malformed("no start octet")
    length = r.u8()
    if not APDU_MIN_LEN <= length <= APDU_MAX_LEN or length + 2 != len(data):
        raise Malformed(f"APDU length {length} for {len(data)} bytes")
    c1, c2, c3, c4 = r.u8(), r.u8(), r.u8(), r.u8()
    if not c1 & 0x01:                                    # 104 5.2: I format
        asdu = parse_asdu(r.rest())
        return Apdu(ApciFormat.I, (c1 | c2 << 8) >> 1, (c3 | c4 << 8) >> 1, None, asdu)
    if length != APDU_MIN_LEN:
        raise Malformed(f"{'S' if c1 & 0x03 == 1 else 'U'} frame with length {length} (must be 4)")
    if c1 & 0x03 == 0x01:                                # 104 5.3: S format, octets 1-2 are 0x01 0x00
        if c1 != 0x01 or c2 != 0:
            raise Malformed(f"S frame control octets 0x{c1:02x} 0x{c2:02x}")
        return Apdu(ApciFormat.S, 0, (c3 | c4 << 8) >> 1, None, None)
    bits = c1 >> 2                                       # 104 5.4: U format, exactly one function bit
    if bits not in UFunction._value2member_map_ or c2 or c3 or c4:
        raise Malformed(f"U frame control 0x{c1:02x}{c2:02x}{c3:02x}{c4:02x}")
    return Apdu(ApciFormat.U, 0, 0, UFunction(bits), None)


def parse_asdu(data: bytes) -> Asdu:
    """101 7.1: type id, variable structure qualifier, cause (+ originator), common address; the information
    objects that follow are not decoded (they carry process values, no identity)."""
    if len(data) < ASDU_HEADER_LEN:
        raise Truncated(f"ASDU of {len(data)} bytes (header is {ASDU_HEADER_LEN})")
    r = Reader(data)
    type_id, vsq, cot, originator, ca = r.u8(), r.u8(), r.u8(), r.u8(), r.u16le()
    if type_id == 0:
        raise Malformed("type id 0 (not used, 101 7.2.1.1)")
    if cot & 0x3F == 0:
        raise Malformed("cause of transmission 0 (not used, 101 7.2.3)")
    return Asdu(type_id, bool(vsq & 0x80), vsq & 0x7F, cot & 0x3F, bool(cot & 0x40), bool(cot & 0x80),
                originator, ca)
