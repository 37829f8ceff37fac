"""NetBIOS name service packets (RFC 1002 4.2: the DNS message format, names in first-level encoding) and
NetBIOS datagrams carrying browser announcements (RFC 1002 4.4.1; SMB_COM_TRANSACTION to the mailslot
\\MAILSLOT\\BROWSE, [MS-SMB] 2.2.4.33 / [MS-CIFS] 2.2.4.33.1; announcements [MS-BRWS] 2.2.1, 2.2.6, 2.2.13)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from otscope.dissectors import dnsmsg
from otscope.dissectors.base import Malformed, Reader, Truncated, text
from otscope.dissectors.nbns.constants import MAILSLOT_BROWSE, SMB_MAGIC, SMB_TRANSACTION, DgmType, RrType

NAME_CHARS = 15


@dataclass(frozen=True, slots=True)
class NbName:
    name: str                 # the 15 characters, trailing spaces stripped, bounded text
    suffix: int               # the 16th byte: the service (<00> workstation, <20> server, <1C> domain, ...)
    scope: str = ""

    def __str__(self) -> str:
        return f"{self.name}<{self.suffix:02X}>"


def decode_name(labels: tuple[bytes, ...]) -> NbName:
    """First-level encoding (RFC 1001 14.1): 16 bytes, each split in two nibbles written as 'A' + nibble."""
    if not labels or len(labels[0]) != 32:
        raise Malformed("NetBIOS name is not 32 encoded characters")
    enc = labels[0]
    out = bytearray()
    for i in range(0, 32, 2):
        hi, lo = enc[i] - 0x41, enc[i + 1] - 0x41
        if not (0 <= hi < 16 and 0 <= lo < 16):
            raise Malformed("NetBIOS name character outside A-P")
        out.append(hi << 4 | lo)
    scope = text(b".".join(labels[1:]), 64) if len(labels) > 1 else ""
    return NbName(text(bytes(out[:NAME_CHARS]).rstrip(b" "), NAME_CHARS), out[15], scope)


@dataclass(slots=True)
class NbRecord:
    name: NbName
    rtype: int
    group: bool               # NB_FLAGS G bit of the first address (NB records)
    addresses: tuple[str, ...]
    node_names: tuple[tuple[NbName, bool], ...] = ()   # NBSTAT: (name, group) the node owns
    unit_id: str = ""         # NBSTAT statistics: the node's MAC


def _nb(rdata: bytes) -> tuple[bool, tuple[str, ...]]:
    if len(rdata) % 6:
        raise Malformed("NB record data is not a list of 6-byte entries")
    group = bool(rdata and rdata[0] & 0x80)
    addrs = tuple(".".join(map(str, rdata[i + 2:i + 6])) for i in range(0, min(len(rdata), 6 * 16), 6))
    return group, addrs


def _nbstat(rdata: bytes) -> tuple[tuple[tuple[NbName, bool], ...], str]:
    """RFC 1002 4.2.18 NODE STATUS RESPONSE: NUM_NAMES, 18 bytes per name (16 + NAME_FLAGS), statistics whose
    first 6 bytes are the unit id (the MAC)."""
    r = Reader(rdata)
    n = r.u8()
    names = []
    for _ in range(n):
        raw = r.take(16)
        flags = r.u16be()
        if len(names) < 32:
            names.append((NbName(text(raw[:NAME_CHARS].rstrip(b" "), NAME_CHARS), raw[15]), bool(flags & 0x8000)))
    mac = r.take(6).hex(":") if r.remaining() >= 6 else ""
    return tuple(names), mac


@dataclass(slots=True)
class NbnsPacket:
    flags: int
    opcode: int
    response: bool
    rcode: int
    questions: tuple[NbName, ...]
    records: tuple[NbRecord, ...]


def parse_nbns(data: bytes) -> NbnsPacket:
    msg = dnsmsg.parse(data)
    questions = tuple(decode_name(q.labels) for q in msg.questions)
    records = []
    for rr in msg.records():
        name = decode_name(rr.labels)
        if rr.rtype == RrType.NB:
            group, addrs = _nb(rr.rdata)
            records.append(NbRecord(name, rr.rtype, group, addrs))
        elif rr.rtype == RrType.NBSTAT:
            names, mac = _nbstat(rr.rdata)
            records.append(NbRecord(name, rr.rtype, False, (), names, mac))
    if not questions and not records:
        raise Malformed("NetBIOS name service packet without a name")
    return NbnsPacket(msg.flags, msg.opcode, msg.response, msg.rcode, questions, tuple(records))


# -- NetBIOS datagrams and browser announcements ---------------------------------------------------------------

_DGM = struct.Struct(">BBH4sHHH")
_ANNOUNCE = struct.Struct("<BBI16sBBIBBH")          # [MS-BRWS] 2.2.1 HostAnnouncement, before its Comment


@dataclass(slots=True)
class Announcement:
    opcode: int
    server: str               # ServerName (DomainAnnouncement: the workgroup)
    os_major: int
    os_minor: int
    server_type: int
    comment: str              # (DomainAnnouncement: the master browser's name)


@dataclass(slots=True)
class Datagram:
    msg_type: int
    source: NbName
    destination: NbName
    mailslot: str
    browser_op: int | None
    announcement: Announcement | None


def _smb_mailslot(data: bytes) -> tuple[str, bytes]:
    """An SMB_COM_TRANSACTION request ([MS-CIFS] 2.2.4.33.1): (mailslot name, transaction data)."""
    if len(data) < 33 or data[:4] != SMB_MAGIC or data[4] != SMB_TRANSACTION:
        raise Malformed("datagram user data is not an SMB transaction")
    r = Reader(data, 32)
    words = r.u8()
    if words < 14:
        raise Malformed(f"SMB transaction word count {words}")
    w = r.take(words * 2)
    data_count, data_offset = struct.unpack_from("<HH", w, 22)
    setup_count = w[26]
    if words != 14 + setup_count:
        raise Malformed("SMB transaction word count does not match its setup count")
    byte_count = r.u16le()
    body = r.take(min(byte_count, r.remaining()))
    name = body.split(b"\x00", 1)[0]
    if data_offset + data_count > len(data):
        raise Truncated("SMB transaction data past the datagram")
    return text(name, 64), data[data_offset:data_offset + data_count]


def _announcement(payload: bytes) -> Announcement | None:
    if not payload:
        raise Truncated("empty browser frame")
    op = payload[0]
    if op not in (1, 12, 15):
        return None
    if len(payload) < _ANNOUNCE.size:
        raise Truncated("browser announcement cut")
    _op, _count, _period, server, major, minor, stype, _bmaj, _bmin, _sig = _ANNOUNCE.unpack_from(payload)
    comment = text(payload[_ANNOUNCE.size:_ANNOUNCE.size + 43], 43)
    return Announcement(op, text(server[:NAME_CHARS].rstrip(b" "), NAME_CHARS), major, minor, stype, comment)


def parse_datagram(data: bytes) -> Datagram:
    """RFC 1002 4.4.1-4.4.2: DIRECT_UNIQUE / DIRECT_GROUP / BROADCAST datagrams carry source and destination
    names then user data; the other types (errors, queries) carry no announcement."""
    data = bytes(data)
    if len(data) < _DGM.size:
        raise Truncated("NetBIOS datagram header")
    msg_type, _flags, _dgm_id, _src_ip, _src_port, dgm_length, _offset = _DGM.unpack_from(data)
    if msg_type not in DgmType._value2member_map_:
        raise Malformed(f"NetBIOS datagram type 0x{msg_type:02x}")
    if msg_type not in (DgmType.DIRECT_UNIQUE, DgmType.DIRECT_GROUP, DgmType.BROADCAST):
        empty = NbName("", 0)
        return Datagram(msg_type, empty, empty, "", None, None)
    src_labels, pos = dnsmsg.read_name(data, _DGM.size)
    dst_labels, pos = dnsmsg.read_name(data, pos)
    source, destination = decode_name(src_labels), decode_name(dst_labels)
    user = data[pos:14 + dgm_length]          # DGM_LENGTH counts the bytes after the PACKET_OFFSET field
    if not user.startswith(SMB_MAGIC):
        return Datagram(msg_type, source, destination, "", None, None)
    slot, payload = _smb_mailslot(user)
    if slot.upper() != MAILSLOT_BROWSE.decode() or not payload:
        return Datagram(msg_type, source, destination, slot, None, None)
    return Datagram(msg_type, source, destination, slot, payload[0], _announcement(payload))
