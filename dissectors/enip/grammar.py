"""EtherNet/IP + CIP grammar (pure; raises Truncated / Malformed). All multi-byte fields are little-endian
except the ListIdentity socket address (big-endian, CIP Vol. 2 2-4.3.2)."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, text
from otscope.dissectors.enip.constants import HEADER_LEN, MAX_ENCAP_DATA, ItemType

_HEADER = struct.Struct("<HHII8sI")


@dataclass(frozen=True, slots=True)
class EncapHeader:
    command: int
    length: int
    session: int
    status: int
    context: bytes
    options: int


def parse_header(data: bytes) -> EncapHeader:
    """Encapsulation header (CIP Vol. 2, 2-3.1): command, length, session, status, sender context, options."""
    if len(data) < HEADER_LEN:
        raise Malformed("short encapsulation header")
    h = EncapHeader(*_HEADER.unpack_from(data))
    if h.length > MAX_ENCAP_DATA:
        raise Malformed(f"encapsulation length {h.length}")
    return h


@dataclass(frozen=True, slots=True)
class Item:
    type_id: int
    data: bytes


def parse_cpf(r: Reader) -> list[Item]:
    """Common Packet Format (CIP Vol. 2, 2-6): item count, then type/length/data items."""
    count = r.u16le()
    if count > 16:
        raise Malformed(f"CPF item count {count}")
    return [Item(r.u16le(), r.take(r.u16le())) for _ in range(count)]


@dataclass(frozen=True, slots=True)
class Identity:
    vendor_id: int
    device_type: int
    product_code: int
    revision: tuple[int, int]
    status: int
    serial: int
    product_name: str
    state: int | None = None
    socket_ip: str | None = None
    socket_port: int | None = None
    encap_version: int | None = None


def parse_identity_attrs(r: Reader, *, socket_ip: str | None = None, socket_port: int | None = None,
                         encap_version: int | None = None) -> Identity:
    """Identity object attributes 1..7 (+ state), as in Get_Attributes_All and ListIdentity (Vol. 1 5A-2.2)."""
    vendor, dtype, code = r.u16le(), r.u16le(), r.u16le()
    major, minor = r.u8(), r.u8()
    status, serial = r.u16le(), r.u32le()
    name = text(r.take(r.u8()))
    state = r.u8() if r.remaining() else None
    return Identity(vendor, dtype, code, (major, minor), status, serial, name, state, socket_ip, socket_port,
                    encap_version)


def parse_list_identity(data: bytes) -> list[Identity]:
    """ListIdentity reply body (Vol. 2, 2-4.3): CPF of CIP Identity items (type 0x0C)."""
    r = Reader(data)
    out = []
    for item in parse_cpf(r):
        if item.type_id != ItemType.LIST_IDENTITY:
            continue                        # e.g. a CIP Security item: not identity
        ir = Reader(item.data)
        version = ir.u16le()
        family, port = struct.unpack(">hH", ir.take(4))
        addr = socket.inet_ntoa(ir.take(4))
        ir.skip(8)
        if family != 2:
            raise Malformed(f"ListIdentity sin_family {family}")
        out.append(parse_identity_attrs(ir, socket_ip=addr, socket_port=port, encap_version=version))
    return out


@dataclass(slots=True)
class Path:
    klass: int | None = None
    instance: int | None = None
    attribute: int | None = None
    route: list[tuple[int, str]] = field(default_factory=list)    # (port, link address)
    symbolic: str | None = None


def parse_epath(raw: bytes) -> Path:
    """Padded EPATH (Vol. 1, C-1): port segments (route), logical class/instance/attribute, ANSI symbol."""
    r = Reader(raw)
    p = Path()
    while r.remaining():
        seg = r.u8()
        kind = seg & 0xE0
        if kind == 0x00:                                  # port segment
            port = seg & 0x0F
            if seg & 0x10:                                # extended link address
                n = r.u8()
                link = text(r.take(n))
                if n & 1:
                    r.skip(1)
            else:
                link = str(r.u8())
            if port == 0x0F:
                port = r.u16le()
            p.route.append((port, link))
        elif kind == 0x20:                                # logical segment
            ltype, fmt = (seg >> 2) & 0x07, seg & 0x03
            if fmt == 0:
                value = r.u8()
            elif fmt == 1:
                r.skip(1)
                value = r.u16le()
            elif fmt == 2:
                r.skip(1)
                value = r.u32le()
            else:
                raise Malformed("reserved logical format")
            if ltype == 0:
                p.klass = value
            elif ltype == 1:
                p.instance = value
            elif ltype == 4:
                p.attribute = value
        elif seg == 0x91:                                 # ANSI extended symbolic
            n = r.u8()
            p.symbolic = text(r.take(n))
            if n & 1:
                r.skip(1)
        else:
            raise Malformed(f"EPATH segment 0x{seg:02x}")
    return p


@dataclass(frozen=True, slots=True)
class CipRequest:
    service: int
    path: Path
    data: bytes


@dataclass(frozen=True, slots=True)
class CipResponse:
    service: int                 # without the 0x80 reply bit
    status: int
    ext_status: bytes
    data: bytes


def parse_request(raw: bytes) -> CipRequest:
    """Message router request (Vol. 1, 2-4.1): service, path size in words, path, data."""
    r = Reader(raw)
    service = r.u8()
    if service & 0x80:
        raise Malformed("reply bit set in a request")
    words = r.u8()
    return CipRequest(service, parse_epath(r.take(words * 2)), r.rest())


def parse_response(raw: bytes) -> CipResponse:
    """Message router response (Vol. 1, 2-4.2): service|0x80, reserved, status, ext size, ext status, data."""
    r = Reader(raw)
    service = r.u8()
    if not service & 0x80:
        raise Malformed("reply bit missing")
    r.skip(1)
    status = r.u8()
    ext = r.take(r.u8() * 2)
    return CipResponse(service & 0x7F, status, ext, r.rest())


def parse_unconnected_send(data: bytes) -> tuple[CipRequest, list[tuple[int, str]]]:
    """Unconnected Send body (Vol. 1, 3-5.6.2): tick, timeout, embedded request, route path."""
    r = Reader(data)
    r.skip(2)
    size = r.u16le()
    inner = parse_request(r.take(size))
    if size & 1:
        r.skip(1)
    words = r.u8()
    r.skip(1)
    route = parse_epath(r.take(words * 2)).route
    return inner, route


def parse_forward_open_route(data: bytes, large: bool) -> list[tuple[int, str]]:
    """Forward Open (Vol. 1, 3-5.5.2): fixed part, then connection path (its port segments are the route)."""
    r = Reader(data)
    r.skip(2 + 4 + 4 + 2 + 2 + 4 + 1 + 3 + 4 + (4 if large else 2) + 4 + (4 if large else 2) + 1)
    words = r.u8()
    return parse_epath(r.take(words * 2)).route
