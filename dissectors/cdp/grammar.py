"""CDP (Cisco Discovery Protocol v1/v2) after LLC/SNAP (OUI 00000C, PID 0x2000).

Header: version(1) ttl(1) checksum(2); TLVs: type(2) length(2, header included) value.
TLV codes as in Wireshark packet-cdp.c.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, text

DEVICE_ID, ADDRESSES, PORT_ID, CAPABILITIES, SW_VERSION, PLATFORM, NATIVE_VLAN = 1, 2, 3, 4, 5, 6, 0x0A
CAP_ROUTER, CAP_BRIDGE, CAP_SWITCH = 0x01, 0x04, 0x08


@dataclass(slots=True)
class CdpFrame:
    version: int
    device_id: str = ""
    port_id: str = ""
    platform: str = ""
    software: str = ""
    capabilities: int | None = None
    native_vlan: int | None = None
    addresses: list[str] = field(default_factory=list)


def _addresses(body: bytes) -> list[str]:
    r = Reader(body)
    out: list[str] = []
    for _ in range(min(r.u32be(), 16)):
        ptype, plen = r.u8(), r.u8()
        proto = r.take(plen)
        alen = r.u16be()
        addr = r.take(alen)
        if ptype == 1 and proto == b"\xcc" and alen == 4:        # NLPID, IPv4
            out.append(socket.inet_ntoa(addr))
    return out


def parse(data: bytes) -> CdpFrame:
    r = Reader(data)
    version = r.u8()
    if version not in (1, 2):
        raise Malformed(f"CDP version {version}")
    r.skip(3)
    out = CdpFrame(version)
    while r.remaining() >= 4:
        tlv_type, length = r.u16be(), r.u16be()
        if length < 4:
            raise Malformed("CDP TLV length below its header")
        body = r.take(length - 4)
        if tlv_type == DEVICE_ID:
            out.device_id = text(body)
        elif tlv_type == PORT_ID:
            out.port_id = text(body)
        elif tlv_type == PLATFORM:
            out.platform = text(body)
        elif tlv_type == SW_VERSION:
            out.software = text(body, 255)
        elif tlv_type == CAPABILITIES and length == 8:
            out.capabilities = int.from_bytes(body, "big")
        elif tlv_type == NATIVE_VLAN and length == 6:
            out.native_vlan = int.from_bytes(body, "big")
        elif tlv_type == ADDRESSES:
            out.addresses = _addresses(body)
    if not out.device_id:
        raise Malformed("CDP frame without a device id")
    return out
