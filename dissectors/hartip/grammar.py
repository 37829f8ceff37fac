"""HART-IP messages and the HART PDUs they carry: pure bytes -> dataclasses (Reader-bounded).

HART-IP header (HCF_SPEC-085 10.2; packet-hartip.c dissect_hartip_common): Version(1) MessageType(1) MessageID(1)
Status(1) SequenceNumber(2) ByteCount(2, the whole message including this header), then the body.
Session Initiate body: master type(1) inactivity close timer(4) (packet-hartip.c dissect_session_init).

Pass-through body, a HART token-passing PDU (HCF_SPEC-081 5.1; packet-hartip.c dissect_pass_through):
preambles 0xFF*, Delimiter(1: bit 7 long address, bits 6..5 expansion bytes, bits 2..0 frame type), Address
(1 polling or 5 unique), expansion bytes, Command(1), ByteCount(1), [ResponseCode(1) DeviceStatus(1) in
slave-to-master frames, counted in ByteCount], Data, Check byte (XOR of delimiter .. last data byte).

Command responses (HCF_SPEC-127; packet-hartip.c dissect_cmd0 / dissect_cmd13 / case 12 / case 20):
* 0: 254, expanded device type(2), min request preambles, universal revision, device revision, software
  revision, hardware revision (bits 7..3) + physical signalling (bits 2..0), flags, device id(3); from 16 bytes:
  response preambles, max device variables, configuration change counter(2), extended status; from 18:
  manufacturer id(2); from 22: private label(2), device profile.
* 12: message, 24 bytes packed ASCII; 13: tag (6 packed), descriptor (12 packed), day, month, year-1900;
* 20: long tag, 32 bytes ISO Latin-1.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.hartip.constants import (ADDRESS_MASTER_BURST_BITS, HEADER_LEN, LONG_ADDRESS_BIT,
                                                 MAX_PREAMBLES, SESSION_INIT_LEN, FrameType)

_HDR = struct.Struct(">BBBBHH")


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    msg_type: int
    msg_id: int
    status: int
    sequence: int
    length: int                 # the whole message, header included


def parse_header(buf: bytes | memoryview, pos: int = 0) -> Header:
    """The 8 header bytes at ``pos`` as they are (the dissector judges version, type and byte count)."""
    if len(buf) - pos < HEADER_LEN:
        raise Truncated("HART-IP header")
    return Header(*_HDR.unpack_from(buf, pos))


@dataclass(frozen=True, slots=True)
class SessionInit:
    host_type: int
    inactivity_timer_ms: int


def parse_session_init(body: bytes) -> SessionInit | None:
    """The Session Initiate body when it has its 5-byte layout (Wireshark shows other lengths as raw data)."""
    if len(body) != SESSION_INIT_LEN:
        return None
    return SessionInit(body[0], struct.unpack_from(">I", body, 1)[0])


@dataclass(frozen=True, slots=True)
class HartPdu:
    delimiter: int
    frame_type: int
    long_address: str           # 10 hex digits of the 38-bit unique id (master/burst bits cleared), or ""
    poll_address: int | None    # a short frame's polling address (bits 5..0)
    command: int
    response_code: int | None   # slave-to-master frames only
    device_status: int | None
    data: bytes                 # after response code / device status
    checksum_ok: bool

    @property
    def is_response(self) -> bool:
        return self.frame_type in (FrameType.ACK, FrameType.BACK)


def parse_pass_through(body: bytes) -> HartPdu:
    r = Reader(body)
    pre = 0
    while r.remaining() and body[r.pos] == 0xFF:
        r.skip(1)
        pre += 1
        if pre > MAX_PREAMBLES:
            raise Malformed("more than 20 preambles")
    start = r.pos
    delim = r.u8()
    frame_type = delim & 0x07
    if frame_type not in (FrameType.ACK, FrameType.BACK, FrameType.STX):
        raise Malformed(f"HART delimiter 0x{delim:02x}")
    long_address, poll = "", None
    if delim & LONG_ADDRESS_BIT:
        addr = r.take(5)
        long_address = bytes([addr[0] & ~ADDRESS_MASTER_BURST_BITS & 0xFF]).hex() + addr[1:].hex()
    else:
        poll = r.u8() & 0x3F
    r.skip((delim >> 5) & 0x03)                     # expansion bytes
    command, count = r.u8(), r.u8()
    is_rsp = frame_type != FrameType.STX
    if is_rsp and count < 2:
        raise Malformed(f"HART response byte count {count} < 2")
    rc = status = None
    if is_rsp:
        rc, status = r.u8(), r.u8()
        count -= 2
    data = r.take(count)
    check = r.u8()
    lrc = 0
    for b in body[start:r.pos - 1]:
        lrc ^= b
    return HartPdu(delim, frame_type, long_address, poll, command, rc, status, data, lrc == check)


def unpack_ascii(raw: bytes) -> str:
    """HART packed ASCII (HCF_SPEC-099 Annex; packet-hartip.c dissect_packAscii): 3 bytes -> 4 six-bit
    characters, bit 6 set to the complement of bit 5."""
    out = []
    for i in range(0, len(raw) - len(raw) % 3, 3):
        n = raw[i] << 16 | raw[i + 1] << 8 | raw[i + 2]
        for shift in (18, 12, 6, 0):
            c = (n >> shift) & 0x3F
            out.append(chr(c | ((~c & 0x20) << 1)))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Identity:
    """Command 0 (Read Unique Identifier) response."""

    expanded_device_type: int
    universal_revision: int
    device_revision: int
    software_revision: int
    hardware_revision: int
    physical_signaling: int
    device_id: str              # 6 hex digits
    manufacturer_id: int | None
    private_label: int | None

    @property
    def unique_id(self) -> str:
        """The 38-bit unique address (HART 7: expanded device type + device id), as a long address is written."""
        return f"{self.expanded_device_type & 0x3FFF:04x}{self.device_id}"


def parse_cmd0(data: bytes) -> Identity:
    if len(data) < 12:
        raise Truncated(f"command 0 response of {len(data)} bytes")
    if data[0] != 254:
        raise Malformed(f"command 0 response starts with {data[0]}, not 254")
    edt = data[1] << 8 | data[2]
    manufacturer = (data[17] << 8 | data[18]) if len(data) >= 19 else (data[1] if data[4] < 7 else None)
    private = (data[19] << 8 | data[20]) if len(data) >= 21 else None
    return Identity(edt, data[4], data[5], data[6], data[7] >> 3, data[7] & 0x07, data[9:12].hex(), manufacturer,
                    private)


@dataclass(frozen=True, slots=True)
class TagDescriptor:
    tag: str
    descriptor: str
    day: int
    month: int
    year: int


def parse_cmd13(data: bytes) -> TagDescriptor:
    if len(data) < 21:
        raise Truncated(f"command 13 response of {len(data)} bytes")
    return TagDescriptor(unpack_ascii(data[0:6]), unpack_ascii(data[6:18]), data[18], data[19], 1900 + data[20])


def parse_cmd12(data: bytes) -> str:
    if len(data) < 24:
        raise Truncated(f"command 12 response of {len(data)} bytes")
    return unpack_ascii(data[:24])


def parse_cmd20(data: bytes) -> str:
    if len(data) < 32:
        raise Truncated(f"command 20 response of {len(data)} bytes")
    return text(data[:32], 32)
