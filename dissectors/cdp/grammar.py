"""CDP (Cisco Discovery Protocol v1/v2) after LLC/SNAP (OUI 00000C, PID 0x2000).

Header: version(1) ttl(1) checksum(2); TLVs: type(2) length(2, header included) value.
TLV codes as in Wireshark packet-cdp.c.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from enum import IntFlag

from otscope.dissectors.base import Malformed, Reader, text

DEVICE_ID, ADDRESSES, PORT_ID, CAPABILITIES, SW_VERSION, PLATFORM, NATIVE_VLAN = 1, 2, 3, 4, 5, 6, 0x0A
MGMT_ADDRESSES = 0x16


class Cap(IntFlag):
    """CDP capabilities bits (Wireshark packet-cdp.c)."""

    ROUTER = 0x01
    TRANSPARENT_BRIDGE = 0x02
    SOURCE_ROUTE_BRIDGE = 0x04
    SWITCH = 0x08
    HOST = 0x10
    IGMP = 0x20
    REPEATER = 0x40
    VOIP_PHONE = 0x80
    REMOTELY_MANAGED = 0x100
    CVTA = 0x200
    TWO_PORT_MAC_RELAY = 0x400


# a device that forwards other stations' frames
NETWORK_DEVICE_CAPS = Cap.ROUTER | Cap.TRANSPARENT_BRIDGE | Cap.SOURCE_ROUTE_BRIDGE | Cap.SWITCH | \
    Cap.TWO_PORT_MAC_RELAY


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
        elif tlv_type == SW_VERSION:                     # several lines (banner, copyright, build): one line each
            out.software = text(body.replace(b"\r", b"").replace(b"\n", b" | "), 384)
        elif tlv_type == CAPABILITIES and length == 8:
            out.capabilities = int.from_bytes(body, "big")
        elif tlv_type == NATIVE_VLAN and length == 6:
            out.native_vlan = int.from_bytes(body, "big")
        elif tlv_type in (ADDRESSES, MGMT_ADDRESSES):
            out.addresses += [a for a in _addresses(body) if a not in out.addresses][:16]
    if not out.device_id:
        raise Malformed("CDP frame without a device id")
    return out
