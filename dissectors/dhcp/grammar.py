"""DHCP / BOOTP (RFC 2131 section 2, options RFC 2132; BOOTP RFC 951 with vendor extensions RFC 1497).

Fixed 236-byte header, then either the magic cookie and options (DHCP, or BOOTP with RFC 1497 vendor
extensions) or, in plain BOOTP (RFC 951), a 64-byte vendor area we do not interpret. Options that repeat
are concatenated (RFC 3396); option 52 (RFC 2132 9.3) moves more options into ``file`` and/or ``sname``.
Client FQDN option 81 per RFC 4702.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

from otscope.dissectors.base import Malformed, Reader, Truncated, mac_str, text

MAGIC = 0x63825363
FIXED_LEN, SNAME_LEN, FILE_LEN, BOOTP_VEND_LEN = 236, 64, 128, 64
MAX_OPTION_BYTES = 1024          # per option code after RFC 3396 concatenation (bounded state)
NAME_LIMIT = 255                 # RFC 1035 2.3.4: a domain name is at most 255 octets


class Op(IntEnum):
    BOOTREQUEST = 1
    BOOTREPLY = 2


class Opt(IntEnum):
    PAD = 0
    HOSTNAME = 12
    REQUESTED_IP = 50
    OVERLOAD = 52
    MSG_TYPE = 53
    SERVER_ID = 54
    PARAMS = 55
    VENDOR_CLASS = 60
    CLIENT_ID = 61
    FQDN = 81
    END = 255


class MsgType(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class FqdnFlag(IntFlag):
    """RFC 4702 2.1: S (server updates the A RR), O (server overrode the client), E (canonical wire
    encoding), N (no server updates)."""

    S = 0x01
    O = 0x02  # noqa: E741 - the RFC's name
    E = 0x04
    N = 0x08


_FIXED = struct.Struct(">BBBBIHH4s4s4s4s16s")


@dataclass(slots=True)
class Fqdn:
    flags: int
    rcode1: int                  # RFC 4702 2.2: deprecated, 0 from clients, 255 from servers
    rcode2: int
    name: str


@dataclass(slots=True)
class DhcpMessage:
    op: int
    chaddr: str
    ciaddr: str
    yiaddr: str
    msg_type: int | None = None
    hostname: str = ""
    requested_ip: str = ""
    server_id: str = ""
    vendor_class: str = ""
    client_id: str = ""
    fqdn: Fqdn | None = None
    param_list: str = ""
    cookie: bool = True                      # False: plain RFC 951 BOOTP (no options)
    anomalies: list[str] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        if self.msg_type is None:
            return "BOOTREPLY" if self.op == Op.BOOTREPLY else "BOOTREQUEST"
        try:
            return MsgType(self.msg_type).name
        except ValueError:
            return f"type {self.msg_type}"

    @property
    def label(self) -> str:
        return f"{'DHCP' if self.msg_type is not None else 'BOOTP'} {self.type_name}"


def _options(r: Reader, into: dict[int, bytearray]) -> None:
    """Option TLVs until END or the end of the area; a repeated code is concatenated (RFC 3396)."""
    while r.remaining():
        code = r.u8()
        if code == Opt.PAD:
            continue
        if code == Opt.END:
            return
        value = r.take(r.u8())
        buf = into.setdefault(code, bytearray())
        if len(buf) + len(value) > MAX_OPTION_BYTES:
            raise Malformed(f"DHCP option {code} longer than {MAX_OPTION_BYTES} bytes")
        buf += value


def _label_name(raw: bytes) -> str:
    """RFC 4702 2.3.1 canonical wire encoding (RFC 1035 3.1 labels, no compression): dotted text; a name
    ending in the root label is fully qualified (rendered without the final dot, as Wireshark does)."""
    r = Reader(raw)
    labels: list[str] = []
    while r.remaining():
        n = r.u8()
        if n == 0:
            if r.remaining():
                raise Malformed("FQDN data after the root label")
            break
        if n > 63:
            raise Malformed(f"FQDN label length {n} (compression or reserved bits)")
        labels.append(r.take(n).decode("latin-1"))
    return text(".".join(labels).encode("latin-1"), NAME_LIMIT)


def parse_fqdn(value: bytes) -> Fqdn:
    """Option 81 (RFC 4702 2): flags, RCODE1, RCODE2, domain name (ASCII when E=0, wire format when E=1)."""
    if len(value) < 3:
        raise Truncated("FQDN option shorter than its flags and rcodes")
    flags, rc1, rc2 = value[0], value[1], value[2]
    if flags & 0xF0:
        raise Malformed(f"FQDN MBZ flag bits set: 0x{flags:02x}")
    name = _label_name(value[3:]) if flags & FqdnFlag.E else text(value[3:], NAME_LIMIT)
    return Fqdn(flags, rc1, rc2, name)


def parse(data: bytes) -> DhcpMessage:
    r = Reader(data)
    op, htype, hlen, _hops, _xid, _secs, _flags, ci, yi, _si, _gi, ch = _FIXED.unpack(r.take(44))
    if op not in (Op.BOOTREQUEST, Op.BOOTREPLY) or htype != 1 or hlen != 6:
        raise Malformed(f"BOOTP op {op} htype {htype} hlen {hlen}")
    sname, file_ = r.take(SNAME_LEN), r.take(FILE_LEN)
    msg = DhcpMessage(op, mac_str(ch[:6]), socket.inet_ntoa(ci), socket.inet_ntoa(yi))
    if r.remaining() < 4 or struct.unpack_from(">I", data, r.pos)[0] != MAGIC:
        if r.remaining() < BOOTP_VEND_LEN:                 # RFC 951: the vend field is 64 octets
            raise Truncated("BOOTP message shorter than its vendor area")
        msg.cookie = False
        return msg
    r.skip(4)
    opts: dict[int, bytearray] = {}
    _options(r, opts)
    overload = bytes(opts.get(Opt.OVERLOAD, b"\x00"))[:1]
    if overload and overload[0] & 1:
        _options(Reader(file_), opts)
    if overload and overload[0] & 2:
        _options(Reader(sname), opts)
    _decode(msg, opts)
    return msg


def _decode(msg: DhcpMessage, opts: dict[int, bytearray]) -> None:
    get = opts.get
    if (v := get(Opt.MSG_TYPE)) is not None and len(v) == 1:
        msg.msg_type = v[0]
    if (v := get(Opt.HOSTNAME)) is not None:
        msg.hostname = text(bytes(v), NAME_LIMIT)
    if (v := get(Opt.REQUESTED_IP)) is not None and len(v) == 4:
        msg.requested_ip = socket.inet_ntoa(bytes(v))
    if (v := get(Opt.SERVER_ID)) is not None and len(v) == 4:
        msg.server_id = socket.inet_ntoa(bytes(v))
    if (v := get(Opt.VENDOR_CLASS)) is not None:
        msg.vendor_class = text(bytes(v))
    if (v := get(Opt.CLIENT_ID)) is not None:
        msg.client_id = bytes(v).hex(":")[:96]
    if (v := get(Opt.PARAMS)) is not None:
        msg.param_list = ",".join(str(b) for b in v[:64])
    if (v := get(Opt.FQDN)) is not None:
        try:
            msg.fqdn = parse_fqdn(bytes(v))
        except (Truncated, Malformed):
            msg.anomalies.append("fqdn-malformed")         # the rest of the message stays usable
