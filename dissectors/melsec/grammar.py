"""SLMP / MC protocol 3E and 4E frames (binary and ASCII) and the MELSOFT datagram: pure bytes -> dataclasses.

Framing is by the data length of the header (SLMP, message format): ``frame_size`` reads a header and says how many bytes
the whole frame has, ``parse_message`` decodes one whole frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.melsec.constants import (ASCII_3E_HEADER, ASCII_4E_HEADER, BIN_3E_HEADER, BIN_4E_HEADER,
                                                 DEVICES, MAX_DATA_LEN, MELSOFT_CPU_MODEL, MELSOFT_HEADER,
                                                 MELSOFT_MODEL_AT, MELSOFT_REQUEST, MELSOFT_RESPONSE,
                                                 READ_CPU_MODEL_NAME_LEN, Frame)

_ASCII_SUBHEADERS = {b"5000": Frame.REQUEST_3E, b"D000": Frame.RESPONSE_3E, b"5400": Frame.REQUEST_4E,
                     b"D400": Frame.RESPONSE_4E}
_HEX = frozenset(b"0123456789ABCDEFabcdef")


@dataclass(frozen=True, slots=True)
class Layout:
    subheader: Frame
    ascii: bool
    header: int                 # bytes up to and including the data length field
    size: int                   # the whole frame

    @property
    def is_response(self) -> bool:
        return self.subheader in (Frame.RESPONSE_3E, Frame.RESPONSE_4E)

    @property
    def is_4e(self) -> bool:
        return self.subheader in (Frame.REQUEST_4E, Frame.RESPONSE_4E)


def _hex(raw: bytes) -> int:
    if not raw or not set(raw) <= _HEX:
        raise Malformed(f"not hex text: {raw[:8]!r}")
    return int(raw, 16)


def frame_size(buf: bytes | memoryview, pos: int = 0) -> Layout:
    """The layout of the frame starting at ``pos`` (Truncated: need more bytes; Malformed: not SLMP)."""
    n = len(buf) - pos
    if n < 4:
        raise Truncated("subheader")
    head = bytes(buf[pos:pos + 4])
    sub = _ASCII_SUBHEADERS.get(head)
    if sub is not None:
        hdr = ASCII_4E_HEADER if sub in (Frame.REQUEST_4E, Frame.RESPONSE_4E) else ASCII_3E_HEADER
        if n < hdr:
            raise Truncated("ASCII header")
        length = _hex(bytes(buf[pos + hdr - 4:pos + hdr]))
        limit = 2 * MAX_DATA_LEN
        ascii_ = True
    else:
        value = head[0] << 8 | head[1]
        if value not in Frame._value2member_map_:
            raise Malformed(f"subheader 0x{value:04x}")
        sub = Frame(value)
        hdr = BIN_4E_HEADER if sub in (Frame.REQUEST_4E, Frame.RESPONSE_4E) else BIN_3E_HEADER
        if n < hdr:
            raise Truncated("binary header")
        length = struct.unpack_from("<H", buf, pos + hdr - 2)[0]
        limit = MAX_DATA_LEN + 2
        ascii_ = False
    response = sub in (Frame.RESPONSE_3E, Frame.RESPONSE_4E)
    least = (4 if ascii_ else 2) * (1 if response else 3)      # end code / timer + command + subcommand
    if not least <= length <= limit:
        raise Malformed(f"data length {length}")
    return Layout(sub, ascii_, hdr, hdr + length)


@dataclass(frozen=True, slots=True)
class Message:
    layout: Layout
    serial: int | None          # 4E only
    network: int
    pc: int
    io: int
    station: int
    command: int | None         # requests
    subcommand: int | None
    end_code: int | None        # responses
    data: bytes                 # after the command/subcommand or the end code (ASCII: still hex text)


def parse_message(buf: bytes | memoryview, lay: Layout) -> Message:
    """One whole frame (``buf`` holds exactly ``lay.size`` bytes)."""
    r = Reader(buf, 0, lay.size)
    r.skip(4 if lay.ascii else 2)
    if lay.ascii:
        def f(width: int) -> int:
            return _hex(r.take(width))
        serial = None
        if lay.is_4e:
            serial = f(4)
            r.skip(4)
        network, pc, io, station = f(2), f(2), f(4), f(2)
        r.skip(4)                               # the length, read by frame_size
        if lay.is_response:
            return Message(lay, serial, network, pc, io, station, None, None, f(4), r.rest())
        r.skip(4)                               # monitoring timer
        return Message(lay, serial, network, pc, io, station, f(4), f(4), None, r.rest())
    serial = None
    if lay.is_4e:
        serial = r.u16le()
        r.skip(2)
    network, pc, io, station = r.u8(), r.u8(), r.u16le(), r.u8()
    r.skip(2)
    if lay.is_response:
        return Message(lay, serial, network, pc, io, station, None, None, r.u16le(), r.rest())
    r.skip(2)
    return Message(lay, serial, network, pc, io, station, r.u16le(), r.u16le(), None, r.rest())


@dataclass(frozen=True, slots=True)
class CpuModel:
    name: str
    code: int


def parse_cpu_model(data: bytes, ascii_: bool) -> CpuModel:
    """Read CPU Model (0101) response data (SLMP Read CPU model name): model name (16 characters), model code (binary 2 LE,
    ASCII 4 hex characters)."""
    r = Reader(data)
    name = text(r.take(READ_CPU_MODEL_NAME_LEN), READ_CPU_MODEL_NAME_LEN)
    code = _hex(r.take(4)) if ascii_ else r.u16le()
    return CpuModel(name, code)


def device_of(data: bytes, ascii_: bool, subcommand: int) -> str:
    """The device a batch read/write names (SLMP Batch read/write): binary head device (3, or 4 for subcommand 0002/0003)
    then the device code (1, or 2); ASCII: device code (2, or 4) then the number (6, or 8)."""
    if ascii_:
        width = 4 if subcommand in (2, 3) else 2
        if len(data) < width:
            raise Truncated("device code")
        return text(data[:width], width).rstrip("*") or "?"
    at = 4 if subcommand in (2, 3) else 3
    if len(data) <= at:
        raise Truncated("device code")
    code = data[at]
    return DEVICES.get(code, f"0x{code:02x}")


@dataclass(frozen=True, slots=True)
class Melsoft:
    is_response: bool
    command: int
    end_code: int | None
    body: bytes


def parse_melsoft(buf: bytes | memoryview) -> Melsoft:
    """A MELSOFT datagram (udp/5560; layout observed, see constants): self-validating by its subheader and
    its length field, which must count exactly the bytes after the 21-byte header."""
    r = Reader(buf)
    sub = r.u16be()
    if sub not in (MELSOFT_REQUEST, MELSOFT_RESPONSE):
        raise Malformed(f"subheader 0x{sub:04x}")
    r.skip(17)
    length = r.u16le()
    if length != len(buf) - MELSOFT_HEADER:
        raise Malformed(f"length {length} for {len(buf) - MELSOFT_HEADER} bytes")
    body = r.rest()
    b = Reader(body)
    first = b.u8()
    response = sub == MELSOFT_RESPONSE
    if (first & 0x80) != (0x80 if response else 0):
        raise Malformed(f"body byte 0x{first:02x}")
    b.skip(23)
    end = None
    if response:
        end = b.u16be()
    return Melsoft(response, b.u16be(), end, body)


def melsoft_cpu_model(m: Melsoft) -> CpuModel | None:
    """The CPU model in a MELSOFT answer to command 01 21 (model name 16 bytes, code 2 LE), else None."""
    if not m.is_response or m.command != MELSOFT_CPU_MODEL or m.end_code:
        return None
    raw = m.body[MELSOFT_MODEL_AT:MELSOFT_MODEL_AT + READ_CPU_MODEL_NAME_LEN + 2]
    if len(raw) < READ_CPU_MODEL_NAME_LEN + 2:
        raise Truncated("MELSOFT CPU model")
    name = raw[:READ_CPU_MODEL_NAME_LEN].split(b"\x00", 1)[0]
    if not name or not all(0x20 < c < 0x7F or c == 0x20 for c in name):
        raise Malformed("MELSOFT CPU model is not ASCII")
    return CpuModel(text(name, READ_CPU_MODEL_NAME_LEN), raw[16] | raw[17] << 8)
