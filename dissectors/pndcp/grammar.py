"""PROFINET DCP (IEC 61158-6-10, DCP over EtherType 0x8892).

FrameID(2): 0xFEFC Hello, 0xFEFD Get/Set, 0xFEFE Identify request (multicast), 0xFEFF Identify response.
DCP header: ServiceID(1) ServiceType(1) Xid(4) ResponseDelay/Reserved(2) DCPDataLength(2).
Blocks: Option(1) Suboption(1) DCPBlockLength(2) then, in responses and Hello, BlockInfo(2); in Set
requests, BlockQualifier(2); then the value; each block padded to an even length.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, mac_str, text

FRAME_HELLO, FRAME_GETSET, FRAME_IDENT_REQ, FRAME_IDENT_RSP = 0xFEFC, 0xFEFD, 0xFEFE, 0xFEFF
SERVICE_GET, SERVICE_SET, SERVICE_IDENTIFY, SERVICE_HELLO = 3, 4, 5, 6
SERVICE_NAMES = {SERVICE_GET: "Get", SERVICE_SET: "Set", SERVICE_IDENTIFY: "Identify", SERVICE_HELLO: "Hello"}
TYPE_REQUEST = 0
OPT_IP, OPT_DEVICE, OPT_DHCP, OPT_CONTROL, OPT_INITIATIVE, OPT_ALL = 1, 2, 3, 5, 6, 0xFF
SUB_MAC, SUB_IP = 1, 2
SUB_VENDOR, SUB_NAME, SUB_ID, SUB_ROLE, SUB_OPTIONS, SUB_ALIAS, SUB_INSTANCE, SUB_OEM = 1, 2, 3, 4, 5, 6, 7, 8
ROLE_BITS = {0x01: "io-device", 0x02: "io-controller", 0x04: "io-multidevice", 0x08: "io-supervisor"}
_HDR = struct.Struct(">BBIHH")
MAX_BLOCKS = 32


@dataclass(slots=True)
class DcpFrame:
    frame_id: int
    service_id: int
    service_type: int
    name_of_station: str = ""
    station_type: str = ""
    alias: str = ""
    vendor_id: int | None = None
    device_id: int | None = None
    role: int | None = None
    ip: str = ""
    netmask: str = ""
    gateway: str = ""
    mac: str = ""
    all_selector: bool = False
    unknown_blocks: list[tuple[int, int]] = field(default_factory=list)
    blocks: list[tuple[int, int]] = field(default_factory=list)   # (option, suboption) of each block, in order

    @property
    def kind(self) -> str:
        name = SERVICE_NAMES.get(self.service_id, f"service {self.service_id}")
        if self.service_id == SERVICE_HELLO:
            return "Hello"
        return f"{name}-{'request' if self.service_type == TYPE_REQUEST else 'response'}"


def parse(data: bytes) -> DcpFrame:
    r = Reader(data)
    frame_id = r.u16be()
    if not FRAME_HELLO <= frame_id <= FRAME_IDENT_RSP:
        raise Malformed(f"not a DCP frame id 0x{frame_id:04x}")
    service_id, service_type, _xid, _delay, length = _HDR.unpack(r.take(10))
    if service_id not in SERVICE_NAMES:
        raise Malformed(f"DCP service id {service_id}")
    out = DcpFrame(frame_id, service_id, service_type)
    blocks = r.sub(min(length, r.remaining()))
    has_info = service_type != TYPE_REQUEST or service_id == SERVICE_HELLO
    is_set = service_id == SERVICE_SET and service_type == TYPE_REQUEST
    while blocks.remaining() >= 4:
        option, sub, blen = blocks.u8(), blocks.u8(), blocks.u16be()
        body = blocks.take(blen)
        if blen & 1 and blocks.remaining():
            blocks.skip(1)
        if len(out.blocks) < MAX_BLOCKS:
            out.blocks.append((option, sub))
        if option == OPT_ALL:
            out.all_selector = True
            continue
        if (has_info or is_set) and service_id != SERVICE_GET:
            if len(body) < 2:
                raise Malformed("DCP block shorter than its BlockInfo/Qualifier")
            body = body[2:]
        _block(out, option, sub, body)
    return out


def _block(out: DcpFrame, option: int, sub: int, body: bytes) -> None:
    if option == OPT_IP and sub == SUB_IP and len(body) >= 12:
        out.ip, out.netmask, out.gateway = (socket.inet_ntoa(body[i:i + 4]) for i in (0, 4, 8))
    elif option == OPT_IP and sub == SUB_MAC and len(body) >= 6:
        out.mac = mac_str(body[:6])
    elif option == OPT_DEVICE and sub == SUB_VENDOR:
        out.station_type = text(body)
    elif option == OPT_DEVICE and sub == SUB_NAME:
        out.name_of_station = text(body, 240)
    elif option == OPT_DEVICE and sub == SUB_ALIAS:
        out.alias = text(body, 240)
    elif option == OPT_DEVICE and sub == SUB_ID and len(body) >= 4:
        out.vendor_id, out.device_id = struct.unpack_from(">HH", body)
    elif option == OPT_DEVICE and sub == SUB_ROLE and len(body) >= 1:
        out.role = body[0]
    elif len(out.unknown_blocks) < 16:
        out.unknown_blocks.append((option, sub))
