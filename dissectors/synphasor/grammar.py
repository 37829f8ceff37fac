"""IEEE C37.118 grammar: one frame's bytes -> dataclasses (pure; raises Truncated / Malformed)."""

from __future__ import annotations

from binascii import crc_hqx
from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.synphasor.constants import (CFG3_PMU_FIXED, CFG3_PMU_TAIL, CHK_LEN, CHNAM_LEN, HEADER_LEN,
                                                    MIN_FRAME, SYNC_BYTE, FrameType)


@dataclass(frozen=True, slots=True)
class Header:
    """6.2 common frame header."""

    type: FrameType
    version: int
    size: int                 # FRAMESIZE: the whole frame, CHK included
    idcode: int               # data stream (or, in a command, destination) IDCODE
    soc: int


@dataclass(frozen=True, slots=True)
class PmuBlock:
    station: str              # STN
    idcode: int               # the PMU's (data source's) IDCODE
    phasors: int
    analogs: int
    digitals: int


@dataclass(frozen=True, slots=True)
class Config:
    """CFG-1/2 (Table 8) or CFG-3 (Table 10), CONT_IDX 0 only."""

    time_base: int
    pmus: tuple[PmuBlock, ...]
    num_pmu: int
    data_rate: int            # > 0 frames per second, < 0 seconds per frame


def crc_ccitt(data: bytes | memoryview) -> int:
    """Annex B: CRC-CCITT, polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR."""
    return crc_hqx(data, 0xFFFF)


def frame_size(buf: bytes | memoryview, pos: int) -> int:
    """FRAMESIZE of the frame at ``pos`` (needs 4 bytes); Malformed for a bad SYNC word or size (6.2, Table 2)."""
    if buf[pos] != SYNC_BYTE:
        raise Malformed(f"SYNC 0x{buf[pos]:02x} (C37.118 is 0xAA)")
    flags = buf[pos + 1]
    if flags & 0x80 or (flags >> 4) & 0x07 not in FrameType._value2member_map_:
        raise Malformed(f"SYNC flags 0x{flags:02x}: reserved bit or undefined frame type")
    size = buf[pos + 2] << 8 | buf[pos + 3]
    if size < MIN_FRAME:
        raise Malformed(f"FRAMESIZE {size} below {MIN_FRAME}")
    return size


def crc_ok(frame: bytes) -> bool:
    return len(frame) >= MIN_FRAME and crc_ccitt(frame[:-CHK_LEN]) == (frame[-2] << 8 | frame[-1])


def parse_header(frame: bytes) -> Header:
    size = frame_size(frame, 0) if len(frame) >= 4 else 0
    if size != len(frame):
        raise Truncated(f"FRAMESIZE {size} for {len(frame)} bytes")
    r = Reader(frame, 1)
    flags = r.u8()
    r.skip(2)
    return Header(FrameType((flags >> 4) & 0x07), flags & 0x0F, size, r.u16be(), r.u32be())


def body(frame: bytes) -> Reader:
    """The frame between the common header and CHK."""
    return Reader(frame, HEADER_LEN, len(frame) - CHK_LEN)


def parse_config(frame: bytes, cfg3: bool = False) -> Config:
    """CFG-1/CFG-2 (6.4, Table 8): TIME_BASE, NUM_PMU, per PMU STN(16) IDCODE FORMAT PHNMR ANNMR DGNMR CHNAM
    PHUNIT ANUNIT DIGUNIT FNOM CFGCNT, then DATA_RATE. CFG-3 (Table 10) starts with CONT_IDX, has length-
    prefixed names, G_PMU_ID, scale, position and service-class fields; a fragment (CONT_IDX != 0) is refused
    here: its pieces are joined with ``cfg3_piece`` and parsed with ``parse_config_body``."""
    r = body(frame)
    if cfg3:
        cont = r.u16be()
        if cont != 0:
            raise Malformed(f"CFG-3 fragment CONT_IDX {cont} (not reassembled)")
    return parse_config_body(r, cfg3)


def parse_config_body(r: Reader, cfg3: bool) -> Config:
    """The configuration after CONT_IDX (CFG-3) or the header (CFG-1/2): TIME_BASE onwards."""
    time_base = r.u32be() & 0x00FFFFFF
    num_pmu = r.u16be()
    pmus = tuple(_pmu3(r) if cfg3 else _pmu12(r) for _ in range(num_pmu))
    rate = r.u16be()
    if r.remaining():
        raise Malformed(f"{r.remaining()} bytes after DATA_RATE")
    return Config(time_base, pmus, num_pmu, rate - 0x10000 if rate & 0x8000 else rate)


def cfg3_piece(frame: bytes) -> bytes:
    """A CFG-3 fragment's share of the configuration: its body after CONT_IDX (Table 10)."""
    r = body(frame)
    r.skip(2)
    return r.rest()


def _pmu12(r: Reader) -> PmuBlock:
    station = text(r.take(CHNAM_LEN))
    idcode, _fmt, ph, an, dg = r.u16be(), r.u16be(), r.u16be(), r.u16be(), r.u16be()
    # CHNAM 16 per phasor, analog and digital bit; PHUNIT/ANUNIT/DIGUNIT 4 each; FNOM, CFGCNT
    r.skip(CHNAM_LEN * (ph + an + 16 * dg) + 4 * (ph + an + dg) + 4)
    return PmuBlock(station, idcode, ph, an, dg)


def _pmu3(r: Reader) -> PmuBlock:
    station = text(r.take(r.u8()))
    fixed = r.sub(CFG3_PMU_FIXED)
    idcode = fixed.u16be()
    fixed.skip(16 + 2)                                   # G_PMU_ID, FORMAT
    ph, an, dg = fixed.u16be(), fixed.u16be(), fixed.u16be()
    for _ in range(ph + an + 16 * dg):                   # CHNAM: each name length-prefixed
        r.skip(r.u8())
    r.skip(12 * ph + 8 * an + 4 * dg + CFG3_PMU_TAIL)    # PHSCALE, ANSCALE, DIGUNIT, then the fixed tail
    return PmuBlock(station, idcode, ph, an, dg)


def cont_idx(frame: bytes) -> int:
    """Table 10: a CFG-3 frame's CONT_IDX (0: the whole configuration, else a fragment's index)."""
    return body(frame).u16be()


def parse_command(frame: bytes) -> int:
    """6.6: the CMD word (extended frame data, if any, follows it)."""
    r = body(frame)
    if r.remaining() < 2:
        raise Truncated("command frame without CMD")
    return r.u16be()


def parse_header_text(frame: bytes, limit: int) -> str:
    """6.5: a header frame is ASCII text."""
    return text(body(frame).rest(), limit)
