"""Live capture on a SPAN port: a receive-only AF_PACKET socket (Linux packet(7)).

The socket is bound to one interface, in promiscuous mode, with a large receive buffer; it is never written
to. Frames the host itself sends (PACKET_OUTGOING) are dropped, so a sensor never analyses its own traffic.
An optional BPF filter is compiled by libpcap (through scapy's compiler) and attached to the socket; the
kernel's drop counters (PACKET_STATISTICS) are reported. Several workers can share the traffic by flow hash
with PACKET_FANOUT. Received frames are packed into chunks in classic-pcap record layout so the same pipeline
as replay processes them.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import time
from dataclasses import dataclass

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_STATISTICS = 6
PACKET_FANOUT = 18
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
PACKET_OUTGOING = 4
SO_RCVBUFFORCE = 33
SNAPLEN = 65535
_REC = struct.Struct("<IIII")


class CaptureOpenError(Exception):
    pass


@dataclass
class Counters:
    received: int = 0
    kernel_packets: int = 0
    kernel_drops: int = 0


class SpanSocket:
    """A receive-only packet socket on one interface."""

    def __init__(self, interface: str, *, bpf: str | None = None, fanout_group: int | None = None,
                 rcvbuf: int = 64 << 20) -> None:
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as exc:
            raise CaptureOpenError(f"opening a packet socket on {interface} needs CAP_NET_RAW ({exc})") from None
        self.interface = interface
        try:
            try:
                # beyond net.core.rmem_max needs CAP_NET_ADMIN; without it, the capped buffer is what we get
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except OSError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if bpf:
                self._attach(bpf)
            self.sock.bind((interface, ETH_P_ALL))
            ifindex = socket.if_nametoindex(interface)
            mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
            self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            if fanout_group is not None:
                arg = (fanout_group & 0xFFFF) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16)
                self.sock.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("I", arg))
        except OSError as exc:
            self.sock.close()
            raise CaptureOpenError(f"cannot capture on {interface}: {exc.strerror or exc}") from None
        self.sock.setblocking(False)
        self.poller = select.poll()
        self.poller.register(self.sock, select.POLLIN)
        self.counters = Counters()
        self.buf = bytearray(SNAPLEN)
        self.view = memoryview(self.buf)

    def _attach(self, expr: str) -> None:
        """Compile with libpcap (scapy's compiler; needs Debian libpcap0.8) and attach to the socket."""
        import logging

        logging.getLogger("scapy").setLevel(logging.ERROR)
        from scapy.arch.linux import attach_filter

        try:
            attach_filter(self.sock, expr, self.interface)
        except Exception as exc:  # noqa: BLE001 - scapy raises its own exception types
            raise CaptureOpenError(f"invalid BPF filter {expr!r}: {exc}") from None

    def read_chunk(self, max_packets: int = 8192, max_wait: float = 0.2) -> tuple[bytes, int]:
        """Receive up to max_packets frames (or what arrives within max_wait) as classic-pcap records.
        The socket is drained without blocking; poll() waits only when it is empty."""
        out = bytearray()
        n = 0
        deadline = time.monotonic() + max_wait
        sock, buf, view, pack = self.sock, self.buf, self.view, _REC.pack
        recv = sock.recvfrom_into
        poller = self.poller
        while n < max_packets:
            try:
                size, addr = recv(buf)
            except BlockingIOError:
                if n:
                    break                                     # hand what we have to the pipeline now
                left = deadline - time.monotonic()
                if left <= 0 or not poller.poll(left * 1000):
                    break
                continue
            except InterruptedError:
                break
            if addr[2] == PACKET_OUTGOING:
                continue                                       # our own host's frames are not the plant's
            now = time.time()
            sec = int(now)
            out += pack(sec, int((now - sec) * 1e6), size, size)
            out += view[:size]
            n += 1
        self.counters.received += n
        return bytes(out), n

    def kernel_stats(self) -> tuple[int, int]:
        """(packets, drops) since the last call (PACKET_STATISTICS resets on read)."""
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        packets, drops = struct.unpack("II", raw)
        self.counters.kernel_packets += packets
        self.counters.kernel_drops += drops
        return packets, drops

    def close(self) -> None:
        self.sock.close()


# --- will the host kernel transmit on this interface? ---------------------------------------------------------

SIOCGIFADDR = 0x8915            # netdevice(7)


def _ipv4_address(interface: str) -> str | None:
    """The interface's (primary) IPv4 address, read with SIOCGIFADDR on a socket that is never used to send."""
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None                                  # EADDRNOTAVAIL: no address
    return socket.inet_ntoa(raw[20:24])


def _ipv6_addresses(interface: str) -> list[str]:
    """IPv6 addresses on the interface (/proc/net/if_inet6: address, ifindex, prefix, scope, flags, name)."""
    out = []
    try:
        with open("/proc/net/if_inet6") as fh:
            for line in fh:
                f = line.split()
                if len(f) == 6 and f[5] == interface:
                    out.append(str(ipaddress.IPv6Address(bytes.fromhex(f[0]))))
    except OSError:
        pass
    return out


def transmit_risks(interface: str) -> list[str]:
    """Why the host's own kernel would transmit on ``interface`` (a SPAN port must stay silent): IPv6 enabled
    (MLD reports, duplicate address detection and router solicitations as soon as the link is up, RFC 4862
    5.4 / RFC 4861 6.3.7 / RFC 3810), an IPv6 or IPv4 address on it (neighbour and ARP replies). Reading
    these transmits nothing."""
    risks = []
    try:
        with open(f"/proc/sys/net/ipv6/conf/{interface}/disable_ipv6") as fh:
            ipv6_on = fh.read().strip() == "0"
    except OSError:
        ipv6_on = False                                  # no IPv6 on this host or this interface
    if ipv6_on:
        risks.append(f"IPv6 is enabled on {interface} (the kernel sends MLD reports, DAD and router solicitations;"
                     f" fix: sysctl -w net.ipv6.conf.{interface}.disable_ipv6=1)")
    v6 = _ipv6_addresses(interface)
    if v6:
        risks.append(f"{interface} has IPv6 address(es) {', '.join(v6)}")
    v4 = _ipv4_address(interface)
    if v4:
        risks.append(f"{interface} has IPv4 address {v4} (the kernel answers ARP for it; fix: ip addr flush dev "
                     f"{interface})")
    return risks
