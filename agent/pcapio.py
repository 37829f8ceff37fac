"""Streaming pcap / pcapng reader (struct-based, constant memory).

Classic pcap: both byte orders, micro- and nanosecond magic. pcapng: several sections, several
interfaces with their own link type and if_tsresol, Enhanced, Simple and obsolete Packet blocks
(pcapng spec, draft-ietf-opsawg-pcapng sections 4.1-4.4). Records are yielded in chunks of
``(ts, linktype, frame_bytes)`` tuples so the capture loop iterates a list, not a generator per packet.

A truncated or corrupt file raises ``CaptureError`` naming the file and the byte offset, after every
packet before the fault has been yielded. Every read of a block's fixed part is checked against the block's
own total length first (a block shorter than its type's fixed part is such a fault).

The source is opened and read exactly once, front to back (a FIFO or standard input ``-`` works like a file);
an ``Identity`` given to ``read_chunks`` sees every byte as it streams (BLAKE3 of the whole content) and the
first packet, so a replay knows what it read without a second pass.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import sys
from collections.abc import Iterator
from typing import BinaryIO, Callable, NamedTuple

CHUNK = 1 << 20
MAX_RECORD = 1 << 18          # 256 KiB: larger than any link's frame; beyond it the file is corrupt

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
STDIN = "-"

# pcapng fixed parts, total block length included (type 4 + length 4 + fixed body + trailing length 4):
# draft-ietf-opsawg-pcapng section 4.1 SHB (BOM 4, version 2+2, section length 8), 4.2 IDB (link type 2,
# reserved 2, snaplen 4), 4.3 EPB (interface 4, timestamp 8, captured 4, original 4), 4.4 SPB (original 4),
# appendix: obsolete Packet Block (interface 2, drops 2, timestamp 8, captured 4, original 4).
FIXED = {PCAPNG_SHB: (28, "section header"), 1: (20, "interface description"), 2: (32, "obsolete packet"),
         3: (16, "simple packet"), 6: (32, "enhanced packet")}

class Chunk(NamedTuple):
    """A window of complete records in classic pcap record layout: sec(4) frac(4) incl(4) orig(4) data.

    The capture loop walks ``buf[start:end]`` with ``rec`` (the record-header unpacker for this byte
    order) and never copies a frame it does not need; ``scale`` turns frac into seconds.
    """

    linktype: int
    rec: Callable[[bytes, int], tuple[int, int, int, int]]
    scale: float
    buf: bytes
    start: int
    end: int
    count: int


class CaptureError(Exception):
    def __init__(self, path: str, offset: int, message: str) -> None:
        super().__init__(f"{path}: {message} at byte offset {offset}")
        self.path = path
        self.offset = offset
        self.message = message


LEGACY_HEAD, LEGACY_TAIL = 1 << 20, 1 << 16


class Identity:
    """What a capture is, learnt while it streams: BLAKE3 over every byte of it (cryptographic, ~4 GB/s on
    one core, so hashing a replay's input costs it a few percent), its size, and a key of its first packet
    (time to the microsecond, captured length and bytes, the same for a pcap and its pcapng conversion).
    Two files whose first packet is the same hold the same frames (a cut, repaired or extended copy)."""

    def __init__(self) -> None:
        from blake3 import blake3

        self._h = blake3(max_threads=1)
        self.size = 0
        self.first: str | None = None
        self._head = bytearray()          # the first MiB and the last 64 KiB: the previous release's file id
        self._tail = b""

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.size += len(data)
        if len(self._head) < LEGACY_HEAD:
            self._head += data[:LEGACY_HEAD - len(self._head)]
        self._tail = (self._tail + data)[-LEGACY_TAIL:] if len(data) < LEGACY_TAIL else data[-LEGACY_TAIL:]

    def digest(self) -> str:
        return self._h.hexdigest()[:32]

    def legacy(self) -> str:
        """The id the previous release gave this file (sha256 over its size, first MiB and last 64 KiB, the
        tail taken from past the first MiB): an inventory it made already holds this file under that id."""
        h = hashlib.sha256(str(self.size).encode())
        h.update(bytes(self._head))
        if self.size > LEGACY_HEAD:
            h.update(self._tail[-min(LEGACY_TAIL, self.size - LEGACY_HEAD):])
        return h.hexdigest()[:24]

    def see(self, chunk: "Chunk") -> None:
        if self.first is not None or not chunk.count:
            return
        sec, frac, incl, _orig = chunk.rec(chunk.buf, chunk.start)
        usec = round(frac * chunk.scale * 1e6)
        data = chunk.buf[chunk.start + 16:chunk.start + 16 + incl]
        self.first = hashlib.sha256(struct.pack("<QQI", sec, usec, incl) + data).hexdigest()[:16]


class _Stream:
    """A buffered window over a file: ensure(n) makes n bytes available at ``pos``. Every byte read goes
    through ``ensure`` once, in order, and so through the identity when there is one."""

    def __init__(self, fh: BinaryIO, ident: Identity | None = None) -> None:
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.base = 0             # file offset of buf[0]
        self.ident = ident

    def ensure(self, n: int) -> bool:
        avail = len(self.buf) - self.pos
        if avail >= n:
            return True
        more = self.fh.read(max(CHUNK, n - avail))
        if self.ident is not None and more:
            self.ident.update(more)
        self.base += self.pos
        self.buf = self.buf[self.pos:] + more
        self.pos = 0
        return len(self.buf) >= n

    def drain(self) -> None:
        """Read what is left (after a fault) so the identity covers the whole content."""
        if self.ident is None:
            return
        while True:
            more = self.fh.read(CHUNK)
            if not more:
                return
            self.ident.update(more)

    def offset(self) -> int:
        return self.base + self.pos

    def at_eof(self) -> bool:
        return not self.ensure(1)


def _kind(path: str, head: bytes) -> str:
    if len(head) < 4:
        raise CaptureError(path, 0, "file too short to be a capture")
    (le,) = struct.unpack("<I", head[:4])
    (be,) = struct.unpack(">I", head[:4])
    if PCAP_MAGIC_US in (le, be) or PCAP_MAGIC_NS in (le, be):
        return "pcap"
    if le == PCAPNG_SHB:
        return "pcapng"
    raise CaptureError(path, 0, f"not a pcap or pcapng file (magic 0x{head[:4].hex()})")


def detect(path: str) -> str:
    with open_source(path) as fh:
        return _kind(path, fh.read(4))


def open_source(path: str) -> BinaryIO:
    """``-`` is standard input (a duplicate of fd 0, so closing it leaves fd 0 alone); anything else is
    opened once for reading (a FIFO blocks here until a writer comes, as a FIFO does)."""
    if path == STDIN:
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    return open(path, "rb")


def is_regular(path: str) -> bool:
    """A regular file can be read again (by several workers); a FIFO, a pipe or a terminal only once."""
    if path == STDIN:
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True                     # opening it will report the error


def display_name(path: str) -> str:
    return "stdin" if path == STDIN else os.path.basename(path)


def read_chunks(path: str, ident: Identity | None = None) -> Iterator[Chunk]:
    """The records of one capture, read once. With ``ident`` every byte is hashed as it streams (also the
    bytes after a fault, which are read to the end first) and the first packet is noted."""
    with open_source(path) as fh:
        st = _Stream(fh, ident)
        try:
            st.ensure(4)
            kind = _kind(path, st.buf[:4])
            reader = _read_pcap if kind == "pcap" else _read_pcapng
            for chunk in reader(path, st):
                if ident is not None and ident.first is None:
                    ident.see(chunk)
                yield chunk
        except CaptureError:
            st.drain()
            raise


def file_size(path: str) -> int:
    return os.path.getsize(path)


_LE_REC = struct.Struct("<IIII").unpack_from
_BE_REC = struct.Struct(">IIII").unpack_from
LE_RECORDS = _LE_REC            # a chunk whose .rec is this one has little-endian record headers


def _read_pcap(path: str, st: _Stream) -> Iterator[Chunk]:
    if not st.ensure(24):
        raise CaptureError(path, 0, "truncated pcap global header")
    magic_le = struct.unpack_from("<I", st.buf, 0)[0]
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        endian, magic = "<", magic_le
    else:
        endian, magic = ">", struct.unpack_from(">I", st.buf, 0)[0]
    scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
    snaplen, linktype = struct.unpack_from(endian + "II", st.buf, 16)
    linktype &= 0x0FFFFFFF        # upper bits carry FCS information (pcap LinkType field)
    st.pos = 24
    rec = _LE_REC if endian == "<" else _BE_REC
    limit = max(MAX_RECORD, snaplen if snaplen < (1 << 24) else 0)
    walk = _c_records()
    while True:
        st.ensure(CHUNK)
        buf, start, end = st.buf, st.pos, len(st.buf)
        pos, n = start, 0
        if walk is not None:                      # the same walk in C (agent/_fastscan.c)
            pos, n, bad = walk(buf, start, end, endian == "<", limit)
            if bad >= 0:
                if n:
                    yield Chunk(linktype, rec, scale, buf, start, pos, n)
                st.pos = pos
                raise CaptureError(path, st.offset(), f"corrupt pcap record (captured length {rec(buf, pos)[2]})")
            end = pos
        # find the last complete record in the window; validate lengths on the way
        while pos + 16 <= end:
            incl = rec(buf, pos)[2]
            if incl > limit:
                if n:
                    yield Chunk(linktype, rec, scale, buf, start, pos, n)
                st.pos = pos
                raise CaptureError(path, st.offset(), f"corrupt pcap record (captured length {incl})")
            nxt = pos + 16 + incl
            if nxt > end:
                break
            pos = nxt
            n += 1
        if n:
            yield Chunk(linktype, rec, scale, buf, start, pos, n)
        st.pos = pos
        if len(st.buf) == st.pos and st.at_eof():
            return
        # a record straddles the window: it must really be there, else the file is cut short
        if not st.ensure(16):
            raise CaptureError(path, st.offset(), "truncated pcap record header")
        incl = rec(st.buf, st.pos)[2]
        if incl > limit:
            raise CaptureError(path, st.offset(), f"corrupt pcap record (captured length {incl})")
        if not st.ensure(16 + incl):
            raise CaptureError(path, st.offset(), "truncated pcap record")


def _c_records():  # type: ignore[no-untyped-def]
    if os.environ.get("OTSCOPE_PURE_PYTHON") == "1":
        return None
    try:
        from otscope.agent._fastscan import records
    except ImportError:
        return None
    return records


def _tsresol_scale(opt: int) -> float:
    # pcapng if_tsresol: MSB 0 -> 10^-n, MSB 1 -> 2^-n
    if opt & 0x80:
        return 2.0 ** -(opt & 0x7F)
    return 10.0 ** -opt


class _PcapngOut:
    """Re-frames pcapng packets into classic little-endian records (ns timestamps), one link type a chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.linktype = -1
        self.n = 0
        self.size = 0

    def add(self, linktype: int, ts: float, data: bytes) -> Chunk | None:
        flushed = self.flush() if (linktype != self.linktype and self.n) or self.size > CHUNK else None
        self.linktype = linktype
        sec = int(ts)
        self.parts.append(struct.pack("<IIII", sec & 0xFFFFFFFF, int(round((ts - sec) * 1e9)) % 1_000_000_000,
                                      len(data), len(data)))
        self.parts.append(data)
        self.n += 1
        self.size += 16 + len(data)
        return flushed

    def flush(self) -> Chunk | None:
        if not self.n:
            return None
        buf = b"".join(self.parts)
        chunk = Chunk(self.linktype, _LE_REC, 1e-9, buf, 0, len(buf), self.n)
        self.parts, self.n, self.size = [], 0, 0
        return chunk


def _read_pcapng(path: str, st: _Stream) -> Iterator[Chunk]:
    endian = "<"
    ifaces: list[tuple[int, float, int]] = []       # (linktype, ts scale, snaplen)
    out = _PcapngOut()
    hdr = struct.Struct("<II").unpack_from

    def fail(message: str) -> CaptureError:
        return CaptureError(path, st.offset(), message)

    while True:
        if not st.ensure(8):
            if len(st.buf) - st.pos:
                err = fail("truncated pcapng block header")
                break
            err = None
            break
        if struct.unpack_from(endian + "I", st.buf, st.pos)[0] == PCAPNG_SHB or st.buf[st.pos:st.pos + 4] == b"\n\r\r\n":
            if not st.ensure(12):
                err = fail("truncated section header block")
                break
            bom = st.buf[st.pos + 8:st.pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                err = fail("bad pcapng byte-order magic")
                break
            hdr = struct.Struct(endian + "II").unpack_from
            ifaces = []
        btype, blen = hdr(st.buf, st.pos)
        if blen < 12 or blen % 4 or blen > MAX_RECORD + 64:
            err = fail(f"corrupt pcapng block (length {blen})")
            break
        if not st.ensure(blen):
            err = fail("truncated pcapng block")
            break
        fixed = FIXED.get(btype)
        if fixed is not None and blen < fixed[0]:
            err = fail(f"short {fixed[1]} block (length {blen}, its fixed part needs {fixed[0]})")
            break
        b, p = st.buf, st.pos
        packet: tuple[int, float, bytes] | None = None
        if btype == 6:                                   # Enhanced Packet Block
            iface, tsh, tsl, cap, _orig = struct.unpack_from(endian + "IIIII", b, p + 8)
            if iface >= len(ifaces) or cap > blen - 32:
                err = fail("enhanced packet block for an unknown interface or overlong")
                break
            lt, scale, _snap = ifaces[iface]
            packet = (lt, ((tsh << 32) | tsl) * scale, b[p + 28:p + 28 + cap])
        elif btype == 3:                                 # Simple Packet Block: interface 0, no timestamp
            if not ifaces:
                err = fail("simple packet block before any interface description")
                break
            lt, _scale, snap = ifaces[0]
            orig = struct.unpack_from(endian + "I", b, p + 8)[0]
            cap = min(orig, snap or orig, blen - 16)
            packet = (lt, 0.0, b[p + 12:p + 12 + cap])
        elif btype == 2:                                 # obsolete Packet Block
            iface, _drops, tsh, tsl, cap, _orig = struct.unpack_from(endian + "HHIIII", b, p + 8)
            if iface < len(ifaces) and cap <= blen - 32:
                lt, scale, _snap = ifaces[iface]
                packet = (lt, ((tsh << 32) | tsl) * scale, b[p + 28:p + 28 + cap])
        elif btype == 1:                                 # Interface Description Block
            lt, _res, snap = struct.unpack_from(endian + "HHI", b, p + 8)
            scale = 1e-6
            q, end = p + 16, p + blen - 4
            while q + 4 <= end:                          # options: code(2) len(2) value, padded to 4
                code, olen = struct.unpack_from(endian + "HH", b, q)
                if code == 0 or q + 4 + olen > end:      # opt_endofopt, or an option overrunning its block
                    break
                if code == 9 and olen >= 1:
                    scale = _tsresol_scale(b[q + 4])
                q += 4 + ((olen + 3) & ~3)
            ifaces.append((lt, scale, snap))
        st.pos = p + blen
        if packet is not None:
            chunk = out.add(*packet)
            if chunk is not None:
                yield chunk
    last = out.flush()
    if last is not None:
        yield last
    if err is not None:
        raise err
