"""A bounded BER (ITU-T X.690) TLV reader over the package's Reader: definite lengths only, every length checked
against its container, tags of at most 4 bytes. No recursion: the GOOSE/SV grammars read a fixed depth (PDU > ASDU > field)."""

from __future__ import annotations

from typing import NamedTuple

from otscope.dissectors.base import Malformed, Reader, Truncated

MAX_TAG_BYTES = 4
MAX_LENGTH_BYTES = 4            # X.690 8.1.3.5 long form; GOOSE/SV frames are < 1500 bytes anyway


class Tlv(NamedTuple):
    tag: int                    # the identifier octets as one number (0x80, 0xAB, 0x1F1A for [UNIVERSAL 26] long)
    value: Reader               # a reader over exactly the contents octets


def read_tag(r: Reader) -> int:
    """Identifier octets (X.690 8.1.2): one byte, or 0x1F-form followed by base-128 bytes (bounded)."""
    first = r.u8()
    tag = first
    if first & 0x1F == 0x1F:
        for _ in range(MAX_TAG_BYTES - 1):
            b = r.u8()
            tag = (tag << 8) | b
            if not b & 0x80:
                return tag
        raise Malformed("BER tag longer than 4 bytes")
    return tag


def read_length(r: Reader) -> int:
    """Length octets (X.690 8.1.3): short form, or long form of 1..4 bytes; the indefinite form (0x80) is not
    allowed in GOOSE/SV (IEC 61850-8-1 A.1 uses definite BER)."""
    first = r.u8()
    if first < 0x80:
        return first
    n = first & 0x7F
    if n == 0 or n > MAX_LENGTH_BYTES:
        raise Malformed(f"BER length form 0x{first:02x}")
    value = 0
    for _ in range(n):
        value = (value << 8) | r.u8()
    return value


def read_tlv(r: Reader) -> Tlv:
    """The next TLV; Truncated when its contents run past the container."""
    tag = read_tag(r)
    length = read_length(r)
    if length > r.remaining():
        raise Truncated(f"BER length {length} past the {r.remaining()} bytes left")
    return Tlv(tag, r.sub(length))


def integer(v: Reader, signed: bool = False) -> int:
    """An INTEGER's contents (X.690 8.3): 1..8 bytes, two's complement (unsigned for the 61850 INT32U fields)."""
    raw = v.rest()
    if not 1 <= len(raw) <= 8:
        raise Malformed(f"BER INTEGER of {len(raw)} bytes")
    return int.from_bytes(raw, "big", signed=signed)


def boolean(v: Reader) -> bool:
    raw = v.rest()
    if len(raw) != 1:
        raise Malformed(f"BER BOOLEAN of {len(raw)} bytes")
    return raw[0] != 0
