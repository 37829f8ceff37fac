"""LLDP (IEEE 802.1AB-2016 clause 8): TLVs with a 7-bit type and a 9-bit length, ended by type 0."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

from otscope.dissectors.base import Malformed, Reader, mac_str, text

END, CHASSIS_ID, PORT_ID, TTL, PORT_DESC, SYS_NAME, SYS_DESC, SYS_CAPS, MGMT_ADDR, ORG = 0, 1, 2, 3, 4, 5, 6, 7, 8, 127
SUBTYPE_MAC = {CHASSIS_ID: 4, PORT_ID: 3}         # chassis subtype 4 / port subtype 3 = MAC address
SUBTYPE_NETADDR = {CHASSIS_ID: 5, PORT_ID: 4}
MAX_MGMT = 8
OUI_TIA = b"\x00\x12\xbb"                  # LLDP-MED, ANSI/TIA-1057 10.2.6: inventory management TLVs


class MedInventory(IntEnum):
    """LLDP-MED inventory TLV subtypes (ANSI/TIA-1057 10.2.6.1-10.2.6.7), each a string of 0-32 octets."""

    HARDWARE_REVISION = 5
    FIRMWARE_REVISION = 6
    SOFTWARE_REVISION = 7
    SERIAL_NUMBER = 8
    MANUFACTURER = 9
    MODEL = 10
    ASSET_ID = 11


class Cap(IntFlag):
    """System capabilities bits, IEEE 802.1AB-2016 8.5.8.1 (Table 8-4)."""

    OTHER = 0x0001
    REPEATER = 0x0002
    BRIDGE = 0x0004
    WLAN_AP = 0x0008
    ROUTER = 0x0010
    TELEPHONE = 0x0020
    DOCSIS = 0x0040
    STATION_ONLY = 0x0080
    C_VLAN = 0x0100
    S_VLAN = 0x0200
    TPMR = 0x0400


# a device that forwards other stations' frames: bridge, router, WLAN access point, VLAN components, TPMR
NETWORK_DEVICE_CAPS = Cap.BRIDGE | Cap.WLAN_AP | Cap.ROUTER | Cap.C_VLAN | Cap.S_VLAN | Cap.TPMR


@dataclass(slots=True)
class LldpFrame:
    chassis_id: str = ""
    chassis_mac: str = ""            # chassis id subtype 4 (MAC address), 8.5.2.2
    port_id: str = ""
    port_desc: str = ""
    system_name: str = ""
    system_desc: str = ""
    system_caps: int | None = None
    enabled_caps: int | None = None
    mgmt_ipv4: list[str] = field(default_factory=list)
    inventory: dict[MedInventory, str] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
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


def _org(out: LldpFrame, body: bytes) -> None:
    """Organizationally specific TLV (8.6): OUI(3) subtype(1) value; only LLDP-MED inventory is read."""
    if len(body) < 4:
        if "org-tlv-short" not in out.anomalies:
            out.anomalies.append("org-tlv-short")            # the rest of the LLDPDU stays usable
        return
    if body[:3] == OUI_TIA and body[3] in MedInventory._value2member_map_:
        out.inventory[MedInventory(body[3])] = text(body[4:36], 32)


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
                if body[0] == SUBTYPE_MAC[CHASSIS_ID] and len(body) == 7:
                    out.chassis_mac = value
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
            if len(body) >= 6 and body[0] == 5 and body[1] == 1 and len(out.mgmt_ipv4) < MAX_MGMT:
                out.mgmt_ipv4.append(socket.inet_ntoa(body[2:6]))    # address string length 5, IANA family 1 = IPv4
        elif tlv_type == ORG:
            _org(out, body)
        elif tlv_type not in (TTL, ORG) and len(out.unknown_tlvs) < 16:
            out.unknown_tlvs.append(tlv_type)
    if not out.chassis_id and not out.port_id:
        raise Malformed("LLDPDU without chassis or port id")
    if not seen_end and r.remaining():
        raise Malformed("LLDPDU trailing bytes")
    return out
