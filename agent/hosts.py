"""Hosts the sensor tracks: when each was seen, whether it sent, the MACs its frames came from.

Bounded: beyond ``max_hosts`` a host is not tracked (its conversations still are); the next batch says so once,
with the first refusal as evidence.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

IPAddr = int | bytes          # IPv4 as int, IPv6 as 16 bytes (cheap to hash; the C fast path uses the same)

INITIAL_TTLS = frozenset({30, 32, 60, 64, 100, 128, 200, 255})
MAX_HOSTS = 200_000          # hosts a sensor tracks (a plant has far fewer; a scan of spoofed sources has more)
MAX_MACS_PER_HOST = 16
MAX_IPS_PER_MAC = 64
MAX_NAMES = 100_000


def is_host_ip(ip: IPAddr) -> bool:
    """Unicast, not unspecified (multicast and limited broadcast are never hosts)."""
    if isinstance(ip, int):
        return ip != 0 and ip >> 28 < 14
    return ip[0] != 0xFF and ip != bytes(16)


def is_directed_broadcast(ip: IPAddr) -> bool:
    return isinstance(ip, int) and ip & 0xFF == 0xFF


class IpNames:
    """Addresses as text, cached (the same few addresses are named over and over)."""

    __slots__ = ("names",)

    def __init__(self) -> None:
        self.names: dict[IPAddr, str] = {}

    def __call__(self, raw: IPAddr) -> str:
        s = self.names.get(raw)
        if s is None:
            if isinstance(raw, int):
                s = socket.inet_ntoa(raw.to_bytes(4, "big"))
            else:
                s = socket.inet_ntop(socket.AF_INET6, raw)
            if len(self.names) < MAX_NAMES:
                self.names[raw] = s
        return s


class HostState:
    __slots__ = ("first", "last", "sent", "macs", "dirty")

    def __init__(self, ts: float) -> None:
        self.first = ts
        self.last = ts
        self.sent = False
        self.macs: dict[str, bool] = {}      # src MAC -> every frame from it had an initial TTL
        self.dirty = True


class HostTable:
    def __init__(self, max_hosts: int = MAX_HOSTS) -> None:
        self.max_hosts = max_hosts
        self.hosts: dict[tuple[int, IPAddr], HostState] = {}
        self.mac_ips: dict[tuple[int, str], set[IPAddr]] = {}
        self.refused: tuple[int, float] | None = None      # first host refused since the last batch
        self.on_full: Callable[[], None] = lambda: None    # the flow table's backend is told (see flowtable.py)

    def host(self, vlan: int, ip: IPAddr, ts: float, frame: int) -> HostState | None:
        if not is_host_ip(ip):
            return None
        h = self.hosts.get((vlan, ip))
        if h is None:
            if len(self.hosts) >= self.max_hosts:
                if self.refused is None:
                    self.refused = (frame, ts)
                self.on_full()
                return None
            h = self.hosts[(vlan, ip)] = HostState(ts)
        return h

    def sender(self, vlan: int, ip: IPAddr) -> HostState | None:
        """A tracked host sent a frame (None: not tracked)."""
        h = self.hosts.get((vlan, ip))
        if h is not None:
            h.sent = True
            h.dirty = True
        return h

    def sender_mac(self, h: HostState, vlan: int, ip: IPAddr, mac: str, ttl: int) -> None:
        """The source MAC of a host's first frame in a flow, and whether its TTL was an initial one."""
        initial = ttl in INITIAL_TTLS
        prev = h.macs.get(mac)
        if prev is None:
            if len(h.macs) < MAX_MACS_PER_HOST:
                h.macs[mac] = initial
                ips = self.mac_ips.setdefault((vlan, mac), set())
                if len(ips) < MAX_IPS_PER_MAC:
                    ips.add(ip)
        elif initial and not prev:
            h.macs[mac] = True          # one frame with an initial TTL shows the host is on this link

    def seen_until(self, vlan: int, a: IPAddr, b: IPAddr, last: float) -> None:
        """Both ends of a conversation were seen until ``last`` (hosts this sensor tracks)."""
        for ip in (a, b):
            h = self.hosts.get((vlan, ip))
            if h is not None and last > h.last:
                h.last = last
                h.dirty = True

    def touch(self, h: HostState | None, ts: float) -> None:
        if h is not None:
            h.last = max(h.last, ts)
            h.dirty = True

    def take_refused(self) -> tuple[int, float] | None:
        refused, self.refused = self.refused, None
        return refused

    def drain(self, name: IpNames) -> tuple[dict, dict]:
        """Hosts changed since the last call, and every MAC's addresses, by name (for a snapshot)."""
        hosts = {}
        for (vlan, raw), h in self.hosts.items():
            if h.dirty:
                h.dirty = False
                hosts[(vlan, name(raw))] = [h.first, h.last, h.sent, dict(h.macs), is_directed_broadcast(raw)]
        return hosts, {k: {name(r) for r in v} for k, v in self.mac_ips.items()}
