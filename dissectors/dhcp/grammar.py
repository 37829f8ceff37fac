"""DHCP / BOOTP (RFC 2131 section 2, options RFC 2132): fixed 236-byte header, magic cookie, options."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader, mac_str, text

MAGIC = 0x63825363
OPT_PAD, OPT_END = 0, 255
OPT_HOSTNAME, OPT_REQUESTED_IP, OPT_MSG_TYPE, OPT_SERVER_ID, OPT_PARAMS = 12, 50, 53, 54, 55
OPT_VENDOR_CLASS, OPT_CLIENT_ID, OPT_FQDN = 60, 61, 81
MESSAGE_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE",
                 8: "INFORM"}
_FIXED = struct.Struct(">BBBBIHH4s4s4s4s16s")


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
    fqdn: str = ""
    param_list: str = ""

    @property
    def type_name(self) -> str:
        if self.msg_type is None:
            return "BOOTP"
        return MESSAGE_TYPES.get(self.msg_type, f"type {self.msg_type}")


def parse(data: bytes) -> DhcpMessage:
    r = Reader(data)
    op, htype, hlen, _hops, _xid, _secs, _flags, ci, yi, _si, _gi, ch = _FIXED.unpack(r.take(44))
    if op not in (1, 2) or htype != 1 or hlen != 6:
        raise Malformed(f"BOOTP op {op} htype {htype} hlen {hlen}")
    r.skip(192)                                        # sname(64) + file(128)
    if r.u32be() != MAGIC:
        raise Malformed("DHCP magic cookie missing")
    msg = DhcpMessage(op, mac_str(ch[:6]), socket.inet_ntoa(ci), socket.inet_ntoa(yi))
    while r.remaining():
        code = r.u8()
        if code == OPT_PAD:
            continue
        if code == OPT_END:
            break
        value = r.take(r.u8())
        if code == OPT_MSG_TYPE and len(value) == 1:
            msg.msg_type = value[0]
        elif code == OPT_HOSTNAME:
            msg.hostname = text(value)
        elif code == OPT_REQUESTED_IP and len(value) == 4:
            msg.requested_ip = socket.inet_ntoa(value)
        elif code == OPT_SERVER_ID and len(value) == 4:
            msg.server_id = socket.inet_ntoa(value)
        elif code == OPT_VENDOR_CLASS:
            msg.vendor_class = text(value)
        elif code == OPT_CLIENT_ID:
            msg.client_id = value.hex(":")[:96]
        elif code == OPT_FQDN and len(value) > 3:
            msg.fqdn = text(value[3:])
        elif code == OPT_PARAMS:
            msg.param_list = ",".join(str(b) for b in value[:64])
    return msg
