"""Frame builders for tests (scapy is fine here: it never runs in the capture loop)."""

from __future__ import annotations

import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import ARP, Dot1Q, Ether  # noqa: E402

PLC_MAC, HMI_MAC = "00:1b:1b:00:00:01", "00:0c:29:00:00:02"


def tcp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", flags: str = "PA", seq: int = 1000,
        ack: int = 1, ttl: int = 64, smac: str = HMI_MAC, dmac: str = PLC_MAC, vlans: tuple[int, ...] = (),
        ipid: int = 1) -> bytes:
    eth = Ether(src=smac, dst=dmac)
    for v in vlans:
        eth = eth / Dot1Q(vlan=v)
    return bytes(eth / IP(src=src, dst=dst, ttl=ttl, id=ipid) / TCP(sport=sport, dport=dport, flags=flags, seq=seq,
                                                                   ack=ack) / payload)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", ttl: int = 64, smac: str = HMI_MAC,
        dmac: str = "ff:ff:ff:ff:ff:ff", ipid: int = 1) -> bytes:
    return bytes(Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, ttl=ttl, id=ipid) / UDP(sport=sport, dport=dport)
                 / payload)


def tcp6(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", flags: str = "PA", seq: int = 1) -> bytes:
    return bytes(Ether(src=HMI_MAC, dst=PLC_MAC) / IPv6(src=src, dst=dst) / TCP(sport=sport, dport=dport,
                                                                                 flags=flags, seq=seq) / payload)


def arp(ip: str, mac: str, op: int = 2) -> bytes:
    return bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=op, psrc=ip, hwsrc=mac, pdst="10.0.0.254"))


class TcpSession:
    """A client/server TCP conversation with consistent sequence numbers (handshake included)."""

    def __init__(self, client: str, server: str, cport: int, sport: int, *, ttl: int = 64,
                 cmac: str = HMI_MAC, smac: str = PLC_MAC, vlans: tuple[int, ...] = ()) -> None:
        self.c, self.s, self.cp, self.sp = client, server, cport, sport
        self.cseq, self.sseq = 1000, 5000
        self.ttl, self.cmac, self.smac, self.vlans = ttl, cmac, smac, vlans
        self.ipid = 1
        self.frames: list[bytes] = []

    def _id(self) -> int:
        self.ipid += 1
        return self.ipid

    def handshake(self) -> TcpSession:
        self.frames.append(tcp(self.c, self.s, self.cp, self.sp, flags="S", seq=self.cseq - 1, ttl=self.ttl,
                               smac=self.cmac, dmac=self.smac, vlans=self.vlans, ipid=self._id()))
        self.frames.append(tcp(self.s, self.c, self.sp, self.cp, flags="SA", seq=self.sseq - 1, ack=self.cseq,
                               ttl=self.ttl, smac=self.smac, dmac=self.cmac, vlans=self.vlans, ipid=self._id()))
        return self

    def to_server(self, payload: bytes) -> bytes:
        f = tcp(self.c, self.s, self.cp, self.sp, payload, seq=self.cseq, ack=self.sseq, ttl=self.ttl,
                smac=self.cmac, dmac=self.smac, vlans=self.vlans, ipid=self._id())
        self.cseq += len(payload)
        self.frames.append(f)
        return f

    def to_client(self, payload: bytes) -> bytes:
        f = tcp(self.s, self.c, self.sp, self.cp, payload, seq=self.sseq, ack=self.cseq, ttl=self.ttl,
                smac=self.smac, dmac=self.cmac, vlans=self.vlans, ipid=self._id())
        self.sseq += len(payload)
        self.frames.append(f)
        return f
