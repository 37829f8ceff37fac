"""Omron FINS frames and the response layouts otscope reads: pure bytes -> dataclasses.

FINS header (W342 FINS header, 10 bytes): ICF, RSV, GCT, DNA, DA1, DA2, SNA, SA1, SA2, SID; then the command code
(MRC, SRC); a response carries the end code (MRES, SRES) before its data. FINS/TCP (W421, FINS/TCP headers) wraps a frame in
a 16-byte header: "FINS", length (big-endian, bytes after the length field), command, error code.
"""

from __future__ import annotations

from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.fins.constants import (COMMAND_LEN, END_CODE_LEN, HEADER_LEN, ICF_NO_RESPONSE,
                                               ICF_RESERVED, ICF_RESPONSE, MODEL_LEN, TCP_HEADER_LEN, TCP_MAGIC,
                                               UNIT_MODEL_LEN, VERSION_LEN)


@dataclass(frozen=True, slots=True)
class Address:
    network: int
    node: int
    unit: int

    def __str__(self) -> str:
        return f"{self.network}.{self.node}.{self.unit}"


@dataclass(frozen=True, slots=True)
class Frame:
    icf: int
    gct: int
    dst: Address
    src: Address
    sid: int
    command: int
    end_code: tuple[int, int] | None      # (MRES, SRES) of a response
    data: bytes

    @property
    def is_response(self) -> bool:
        return bool(self.icf & ICF_RESPONSE)

    @property
    def response_required(self) -> bool:
        return not self.icf & ICF_NO_RESPONSE


def parse_frame(buf: bytes | memoryview) -> Frame:
    """A whole FINS frame (one UDP datagram, or the data of a FINS/TCP frame-send)."""
    r = Reader(buf)
    icf, rsv, gct = r.u8(), r.u8(), r.u8()
    if icf & ICF_RESERVED or rsv != 0:
        raise Malformed(f"ICF 0x{icf:02x} RSV 0x{rsv:02x}")
    dst = Address(r.u8(), r.u8(), r.u8())
    src = Address(r.u8(), r.u8(), r.u8())
    sid = r.u8()
    command = r.u16be()
    end = None
    if icf & ICF_RESPONSE:
        end = (r.u8(), r.u8())
    return Frame(icf, gct, dst, src, sid, command, end, r.rest())


def min_len(is_response: bool) -> int:
    return HEADER_LEN + COMMAND_LEN + (END_CODE_LEN if is_response else 0)


@dataclass(frozen=True, slots=True)
class ControllerData:
    """0501 Controller Data Read response, first part (W342 CONTROLLER DATA READ): model and version, 20 ASCII bytes each."""

    model: str
    version: str


def parse_controller_data(data: bytes) -> ControllerData | None:
    """Model and version when the response carries them (a response to parameter 0x01 holds only the area
    data, shorter than the two strings: None)."""
    if len(data) < MODEL_LEN + VERSION_LEN:
        return None
    return ControllerData(text(data[:MODEL_LEN], MODEL_LEN), text(data[MODEL_LEN:MODEL_LEN + VERSION_LEN], VERSION_LEN))


def parse_connection_data(data: bytes) -> list[tuple[int, str]]:
    """0502 Connection Data Read response (W342 CONNECTION DATA READ): number of units, then unit address (1) + model (20)."""
    r = Reader(data)
    n = r.u8()
    out = []
    for _ in range(n):
        if r.remaining() < 1 + UNIT_MODEL_LEN:
            if out:
                break                       # a cut last record: keep the whole ones
            raise Truncated(f"0502: {n} units, {r.remaining()} bytes")
        unit = r.u8()
        out.append((unit, text(r.take(UNIT_MODEL_LEN), UNIT_MODEL_LEN)))
    return out


@dataclass(frozen=True, slots=True)
class ControllerStatus:
    status: int
    mode: int


def parse_controller_status(data: bytes) -> ControllerStatus:
    """0601 Controller Status Read response (W342 CONTROLLER STATUS READ): status (1), mode (1), error data..."""
    r = Reader(data)
    return ControllerStatus(r.u8(), r.u8())


@dataclass(frozen=True, slots=True)
class TcpHeader:
    length: int                 # bytes after the length field (command + error code + data)
    command: int
    error: int


def parse_tcp_header(buf: bytes | memoryview, pos: int = 0) -> TcpHeader:
    r = Reader(buf, pos, pos + TCP_HEADER_LEN)
    if r.take(4) != TCP_MAGIC:
        raise Malformed("no FINS magic")
    return TcpHeader(r.u32be(), r.u32be(), r.u32be())


def parse_node_addresses(data: bytes) -> tuple[int, int | None]:
    """FINS/TCP node address data: client node (4), server node (4, in the server's answer only)."""
    r = Reader(data)
    client = r.u32be()
    return client, (r.u32be() if r.remaining() >= 4 else None)
