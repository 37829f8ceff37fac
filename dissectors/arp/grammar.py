"""ARP (RFC 826) for Ethernet/IPv4: htype(2) ptype(2) hlen(1) plen(1) op(2) sha(6) spa(4) tha(6) tpa(4)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from otscope.dissectors.base import Malformed, Reader

_FIXED = struct.Struct(">HHBBH")


@dataclass(frozen=True, slots=True)
class ArpPacket:
    op: int                    # 1 request, 2 reply (unknown values kept as numbers)
    sender_mac: bytes
    sender_ip: bytes
    target_mac: bytes
    target_ip: bytes


# parse() reads the first 28 bytes and facts() depends on the first 18 only (fixed part, sender): two frames
# that agree on those, both long enough, give the same output (agent/l2.py remembers it)
SIZE, MEMO_PREFIX = 28, 18


def memo_key(data: bytes) -> tuple[bool, bytes]:
    return (True, data[:MEMO_PREFIX]) if len(data) >= SIZE else (False, data)


def parse(data: bytes) -> ArpPacket:
    r = Reader(data)
    htype, ptype, hlen, plen, op = _FIXED.unpack(r.take(8))
    if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
        raise Malformed(f"ARP for htype {htype} ptype 0x{ptype:04x} hlen {hlen} plen {plen}")
    return ArpPacket(op, r.take(6), r.take(4), r.take(6), r.take(4))
