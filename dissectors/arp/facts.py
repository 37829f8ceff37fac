"""ARP -> bindings: the sender's IP and MAC (a probe from 0.0.0.0 binds nothing)."""

from __future__ import annotations

import socket

from otscope.dissectors.arp.grammar import ArpPacket
from otscope.dissectors.base import L2Binding, L2Output, mac_str

MESSAGES = {1: "ARP request", 2: "ARP reply"}


def facts(pkt: ArpPacket) -> L2Output:
    if pkt.sender_ip == b"\x00\x00\x00\x00" or pkt.sender_mac in (b"\x00" * 6, b"\xff" * 6):
        return []
    msg = MESSAGES.get(pkt.op, f"ARP op {pkt.op}")
    return [L2Binding(socket.inet_ntoa(pkt.sender_ip), mac_str(pkt.sender_mac), msg)]
