"""TPKT / COTP / S7comm / S7comm-plus grammar (pure; raises Truncated / Malformed)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.s7.constants import BLOCK_TYPES, PLUS_DATATYPE_WSTRING, S7COMM_ID, S7PLUS_ID, CotpParam, \
    CotpType, PlusAttribute, Rosctr

_S7_HDR = struct.Struct(">BBHHHH")


# --- COTP (ISO 8073 13.3-13.7) ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Cotp:
    pdu_type: int
    eot: bool = True
    payload: bytes = b""
    params: tuple[tuple[int, bytes], ...] = ()


def parse_cotp(tpdu: bytes) -> Cotp:
    """One COTP TPDU: length indicator, type (upper nibble), fixed part, variable parameters, user data."""
    r = Reader(tpdu)
    li = r.u8()
    if li == 0 or li == 255:
        raise Malformed(f"COTP length indicator {li}")
    head = r.sub(li)
    code = head.u8()
    ptype = code & 0xF0
    if ptype == CotpType.DT:
        nr = head.u8()
        return Cotp(ptype, bool(nr & 0x80), r.rest())
    if ptype in (CotpType.CR, CotpType.CC, CotpType.DR, CotpType.DC):
        head.skip(4 if ptype in (CotpType.DC,) else 5)           # dst ref, src ref, class/option (or reason)
        params = []
        while head.remaining() >= 2:
            pcode, plen = head.u8(), head.u8()
            params.append((pcode, head.take(plen)))
        return Cotp(ptype, True, r.rest(), tuple(params))
    if ptype in (CotpType.ED, CotpType.AK, CotpType.EA, CotpType.RJ, CotpType.ER):
        return Cotp(ptype, True, b"")
    raise Malformed(f"COTP PDU type 0x{code:02x}")


@dataclass(frozen=True, slots=True)
class Tsap:
    raw: bytes

    @property
    def text(self) -> str | None:
        """Text TSAPs such as SIMATIC-ROOT-ES (TIA Portal) or SIMATIC-ROOT-HMI (WinCC)."""
        if len(self.raw) > 2 and all(0x20 <= b < 0x7F for b in self.raw):
            return self.raw.decode("ascii")
        return None

    @property
    def conn_type(self) -> int | None:
        return self.raw[0] if len(self.raw) == 2 else None

    @property
    def rack_slot(self) -> tuple[int, int] | None:
        """Binary called TSAP: second byte = rack * 32 + slot."""
        if len(self.raw) != 2:
            return None
        return self.raw[1] >> 5, self.raw[1] & 0x1F


def tsaps(c: Cotp) -> tuple[Tsap | None, Tsap | None]:
    calling = called = None
    for code, value in c.params:
        if code == CotpParam.CALLING_TSAP:
            calling = Tsap(value)
        elif code == CotpParam.CALLED_TSAP:
            called = Tsap(value)
    return calling, called


# --- S7comm (header, parameters, userdata) ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class S7Pdu:
    rosctr: int
    pdu_ref: int
    params: bytes
    data: bytes
    error: int = 0


def parse_s7(pdu: bytes) -> S7Pdu:
    """S7comm header: 0x32, ROSCTR, reserved, PDU ref, parameter length, data length (+ error for 2/3)."""
    r = Reader(pdu)
    proto, rosctr, _res, ref, plen, dlen = _S7_HDR.unpack(r.take(10))
    if proto != S7COMM_ID:
        raise Malformed("not S7comm")
    if rosctr not in (1, 2, 3, 7):
        raise Malformed(f"ROSCTR {rosctr}")
    err = r.u16be() if rosctr in (Rosctr.ACK, Rosctr.ACK_DATA) else 0
    return S7Pdu(rosctr, ref, r.take(plen), r.take(dlen), err)


# --- block files (Wireshark packet-s7comm.c s7comm_decode_plc_controls_updownload, s7comm_decode_pi_service) -----

@dataclass(frozen=True, slots=True)
class BlockFile:
    """A block as a job names it: block type (two ASCII characters, BLOCK_TYPES), number (five digits) and
    destination file system (P passive, A active, B both)."""

    type_code: str
    number: int
    filesystem: str

    @property
    def name(self) -> str:
        return f"{BLOCK_TYPES.get(self.type_code, 'type ' + self.type_code)} {self.number}"


def _block(raw: bytes) -> BlockFile:
    """Eight characters: block type (2), block number (5 decimal digits), destination file system (1)."""
    if len(raw) < 8:
        raise Truncated("block name shorter than 8 characters")
    kind, num, fs = raw[:2], raw[2:7], raw[7:8]
    if not all(48 <= b <= 57 or 65 <= b <= 70 for b in kind) or not num.isdigit() or not fs.isalpha():
        raise Malformed(f"block name {raw[:8]!r}")
    return BlockFile(kind.decode(), int(num), fs.decode())


def parse_block_file(params: bytes) -> BlockFile:
    """The file of a Request download / Download block / Download ended / Start upload job: function (1),
    function status (1), two unknown bytes, four bytes (the upload id on uploads), file name length (1), then the
    file name: file identifier ('_' a complete module, '$' a module header) and the eight-character block name."""
    if len(params) < 9:
        raise Truncated("block job parameters shorter than 9 bytes")
    n = params[8]
    name = params[9:9 + n]
    if len(name) < n:
        raise Truncated("block file name runs past the parameters")
    if n < 9 or name[:1] not in (b"_", b"$"):
        raise Malformed(f"block file name {name[:16]!r}")
    return _block(name[1:9])


def parse_pi_blocks(params: bytes) -> list[BlockFile]:
    """The blocks a PI-Service _INSE / _INS2 / _DELE job names: after 7 unknown bytes and the parameter block
    length (2), the parameter block holds a block count (1), an unknown byte, then count eight-character block
    names."""
    if len(params) < 10:
        raise Truncated("PI job parameters shorter than 10 bytes")
    plen = params[8] << 8 | params[9]
    block = params[10:10 + plen]
    if len(block) < plen or plen < 2:
        raise Truncated("PI parameter block shorter than its length")
    count = block[0]
    if 2 + 8 * count > plen:
        raise Malformed(f"PI parameter block of {plen} bytes cannot hold {count} blocks")
    return [_block(block[2 + 8 * i: 10 + 8 * i]) for i in range(min(count, 32))]


@dataclass(frozen=True, slots=True)
class Userdata:
    method: int               # 0x11 request, 0x12 response
    kind: int                 # 4 request, 8 response, 0 push
    group: int
    subfunction: int
    sequence: int
    last_unit: bool
    data_return: int
    data: bytes


def parse_userdata(p: S7Pdu) -> Userdata:
    """Userdata parameter (head 00 01 12, length, method, type|group, subfunction, sequence, ...) and data
    (return code, transport size, length, payload)."""
    r = Reader(p.params)
    if r.take(3) != b"\x00\x01\x12":
        raise Malformed("userdata parameter head")
    plen = r.u8()
    pr = r.sub(plen)
    method, tg, sub, seq = pr.u8(), pr.u8(), pr.u8(), pr.u8()
    last = True
    if pr.remaining() >= 2:
        pr.u8()                                        # data unit reference
        last = pr.u8() == 0
    d = Reader(p.data)
    ret = d.u8()
    d.u8()
    n = d.u16be()
    return Userdata(method, tg >> 4, tg & 0x0F, sub, seq, last, ret, d.take(min(n, d.remaining())))


@dataclass(slots=True)
class Szl:
    szl_id: int
    index: int
    record_len: int
    records: list[bytes] = field(default_factory=list)


def parse_szl(data: bytes) -> Szl:
    """Read-SZL answer: SZL-ID, index, LENTHDR (record length), N_DR (count), records."""
    r = Reader(data)
    szl_id, index, rec_len, count = r.u16be(), r.u16be(), r.u16be(), r.u16be()
    out = Szl(szl_id, index, rec_len)
    if rec_len == 0:
        return out
    for _ in range(min(count, 512)):
        if r.remaining() < rec_len:
            break
        out.records.append(r.take(rec_len))
    return out


@dataclass(frozen=True, slots=True)
class ModuleId:
    """A SZL xy11 record: index, MlfB (order number), BGTyp, Ausbg, Ausbe."""

    index: int
    mlfb: str
    bgtyp: int
    ausbg: int
    ausbe: int

    @property
    def version(self) -> str | None:
        """Firmware 'Vx.y.z' when Ausbg carries the 'V' marker (S7-300/400/1200/1500 index 7)."""
        if self.ausbg >> 8 == ord("V"):
            return f"V{self.ausbg & 0xFF}.{self.ausbe >> 8}.{self.ausbe & 0xFF}"
        return None


def parse_module_id(rec: bytes) -> ModuleId:
    if len(rec) < 28:
        raise Malformed(f"SZL 0x0011 record of {len(rec)} bytes (28 expected)")
    index, mlfb, bgtyp, ausbg, ausbe = struct.unpack_from(">H20sHHH", rec)
    return ModuleId(index, text(mlfb), bgtyp, ausbg, ausbe)


def parse_component_id(rec: bytes) -> tuple[int, bytes]:
    """A SZL 0x001C record: index, 32 bytes (text for most indexes)."""
    if len(rec) < 4:
        raise Malformed("short SZL 0x001C record")
    return struct.unpack_from(">H", rec)[0], rec[2:]


# --- S7comm-plus ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PlusHeader:
    version: int
    opcode: int | None
    function: int | None
    body: bytes


def parse_plus(pdu: bytes) -> PlusHeader:
    """0x72, protocol version, data length, (V3: 32-byte integrity part), opcode, reserved, function."""
    r = Reader(pdu)
    if r.u8() != S7PLUS_ID:
        raise Malformed("not S7comm-plus")
    version = r.u8()
    r.u16be()
    if version == 3 and r.remaining() > 33 and pdu[4] == 0x20:
        r.skip(33)
    if version in (0xFE, 0xFF) or r.remaining() < 5:
        return PlusHeader(version, None, None, r.rest())
    opcode = r.u8()
    r.skip(2)
    function = r.u16be()
    return PlusHeader(version, opcode, function, r.rest())


SESSION_STRING = re.compile(rb"(\d);(6E[SA]\d [ -~]{3}-[ -~]{5}-[ -~]{4})\s*;(V\d+(?:\.\d+)+)")
PLUS_STRING_IDS = frozenset(int(a) for a in PlusAttribute)
MAX_PLUS_STRING = 256


def session_identity(body: bytes) -> tuple[str, str] | None:
    """The PLC's ServerSessionVersion string '1;<MLFB> ;V<fw>' in a CreateObject response: an order number
    (6ES7/6AV.. xxx-xxxxx-xxxx) and a firmware version V<n>(.<n>)+, nothing less."""
    m = SESSION_STRING.search(body)
    if not m:
        return None
    return m.group(2).decode().strip(), m.group(3).decode()


def vlq(buf: bytes, pos: int) -> tuple[int, int]:
    """S7comm-plus variable-length quantity (VLQ UInt32): 7 bits per byte, big-endian, bit 7 = more follows,
    at most 5 bytes. Returns (value, next position)."""
    value = 0
    for i in range(5):
        if pos + i >= len(buf):
            raise Malformed("truncated VLQ")
        b = buf[pos + i]
        value = value << 7 | (b & 0x7F)
        if not b & 0x80:
            return value, pos + i + 1
    raise Malformed("VLQ longer than 5 bytes")


def vlq_bytes(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | value & 0x7F)
        value >>= 7
    return bytes(reversed(out))


# an attribute id (as an item 0xA3 or as a member of a struct value), flags 0x00, datatype WString
_PLUS_NEEDLES = tuple((int(a), vlq_bytes(a) + bytes((0, PLUS_DATATYPE_WSTRING))) for a in PlusAttribute)


def plus_attribute_strings(body: bytes, limit: int = 16) -> list[tuple[int, str]]:
    """String values of known identity attributes in a CreateObject body (PlusAttribute ids, encoded as an
    attribute item 0xA3 <id> or a struct member <id>, then flags 0x00, datatype WString 0x15, length VLQ and
    exactly that many printable bytes). Printable runs elsewhere in the binary body are not strings of a known
    context and are never returned."""
    found: list[tuple[int, int, str]] = []
    for attr, needle in _PLUS_NEEDLES:
        pos = body.find(needle)
        while pos >= 0 and len(found) < limit:
            try:
                n, p = vlq(body, pos + len(needle))
                raw = body[p:p + n]
                if 0 < len(raw) == n <= MAX_PLUS_STRING and all(0x20 <= b < 0x7F for b in raw):
                    found.append((pos, attr, raw.decode("ascii")))
            except Malformed:
                pass
            pos = body.find(needle, pos + 1)
    return [(attr, text_) for _, attr, text_ in sorted(found)]
