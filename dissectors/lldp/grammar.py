"""LLDP (IEEE 802.1AB-2016 clause 8): TLVs with a 7-bit type and a 9-bit length, ended by type 0."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, mac_str, text

END, CHASSIS_ID, PORT_ID, TTL, PORT_DESC, SYS_NAME, SYS_DESC, SYS_CAPS, MGMT_ADDR, ORG = 0, 1, 2, 3, 4, 5, 6, 7, 8, 127
SUBTYPE_MAC = {CHASSIS_ID: 4, PORT_ID: 3}         # chassis subtype 4 / port subtype 3 = MAC address
SUBTYPE_NETADDR = {CHASSIS_ID: 5, PORT_ID: 4}
CAP_BRIDGE, CAP_ROUTER, CAP_STATION = 0x0004, 0x0010, 0x0080


@dataclass(slots=True)
class LldpFrame:
    chassis_id: str = ""
    port_id: str = ""
    port_desc: str = ""
    system_name: str = ""
    system_desc: str = ""
    system_caps: int | None = None
    enabled_caps: int | None = None
    mgmt_ipv4: list[str] = field(default_factory=list)
    unknown_tlvs: list[int] = field(default_factory=list)


def _id_value(tlv_type: int, body: bytes) -> str:
    if not body:
        raise Malformed("empty LLDP id TLV")
    subtype, value = body[0], body[1:]
    if subtype == SUBTYPE_MAC[tlv_type] and len(value) == 6:
        return mac_str(value)
    if subtype == SUBTYPE_NETADDR[tlv_type] and len(value) == 5 and value[0] == 1:
        return socket.inet_ntoa(value[1:])
    return text(value)


def parse(data: bytes) -> LldpFrame:
    r = Reader(data)
    out = LldpFrame()
    seen_end = False
    while r.remaining() >= 2:
        hdr = r.u16be()
        tlv_type, length = hdr >> 9, hdr & 0x1FF
        body = r.take(length)
        if tlv_type == END:
            seen_end = True
            break
        if tlv_type in (CHASSIS_ID, PORT_ID):
            value = _id_value(tlv_type, body)
            if tlv_type == CHASSIS_ID:
                out.chassis_id = value
            else:
                out.port_id = value
        elif tlv_type == PORT_DESC:
            out.port_desc = text(body)
        elif tlv_type == SYS_NAME:
            out.system_name = text(body)
        elif tlv_type == SYS_DESC:
            out.system_desc = text(body, 255)
        elif tlv_type == SYS_CAPS:
            if length != 4:
                raise Malformed("LLDP capabilities TLV length")
            out.system_caps = int.from_bytes(body[:2], "big")
            out.enabled_caps = int.from_bytes(body[2:], "big")
        elif tlv_type == MGMT_ADDR:
            if len(body) >= 6 and body[0] == 5 and body[1] == 1:     # address string length 5, IANA family 1 = IPv4
                out.mgmt_ipv4.append(socket.inet_ntoa(body[2:6]))
        elif tlv_type not in (TTL, ORG) and len(out.unknown_tlvs) < 16:
            out.unknown_tlvs.append(tlv_type)
    if not out.chassis_id and not out.port_id:
        raise Malformed("LLDPDU without chassis or port id")
    if not seen_end and r.remaining():
        raise Malformed("LLDPDU trailing bytes")
    return out
