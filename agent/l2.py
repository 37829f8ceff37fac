"""Frame-level (stateless) dissectors: ARP, LLDP, CDP, PROFINET DCP, and DHCP datagrams.

These are rare next to flow traffic, so they are dispatched outside the hot loop. Each grammar is
pure (bytes -> dataclass) and raises Truncated/Malformed; here those become counted anomalies.
"""

from __future__ import annotations

from collections.abc import Callable

from otscope.agent.accumulate import Accumulator
from otscope.contract import Subject
from otscope.dissectors.arp import facts as arp_facts, grammar as arp
from otscope.dissectors.base import L2Binding, L2Fact, L2Output, Malformed, Truncated
from otscope.dissectors.cdp import facts as cdp_facts, grammar as cdp
from otscope.dissectors.dhcp import facts as dhcp_facts, grammar as dhcp
from otscope.dissectors.lldp import facts as lldp_facts, grammar as lldp
from otscope.dissectors.pndcp import facts as dcp_facts, grammar as dcp

ETH_ARP, ETH_LLDP, ETH_PROFINET = 0x0806, 0x88CC, 0x8892
CDP_SNAP = bytes.fromhex("aaaa0300000c2000")
MAX_L2_HOSTS = 100_000


class L2Dispatcher:
    def __init__(self, acc: Accumulator) -> None:
        self.acc = acc
        self.hosts: dict[tuple[int, str], list] = {}     # layer-2 senders: (vlan, mac) -> [first, last, dirty]

    def frame(self, et: int, buf: bytes, off: int, l3: int, stop: int, vlan: int, frame: int, ts: float) -> None:
        src = buf[off + 6:off + 12].hex(":")
        dst = buf[off:off + 6].hex(":")
        body = buf[l3:stop]
        if et == ETH_ARP:
            self._run("arp", lambda: arp_facts.facts(arp.parse(body)), vlan, frame, ts)
            return
        self._sender(vlan, src, ts)
        if et == ETH_LLDP:
            self._run("lldp", lambda: lldp_facts.facts(lldp.parse(body), src), vlan, frame, ts)
        elif et == ETH_PROFINET and len(body) >= 2 and body[0] == 0xFE and body[1] >= 0xFC:
            self._run("pn_dcp", lambda: dcp_facts.facts(dcp.parse(body), src, dst), vlan, frame, ts)
        elif et <= 1500 and body.startswith(CDP_SNAP):
            self._run("cdp", lambda: cdp_facts.facts(cdp.parse(body[8:]), src), vlan, frame, ts)

    def dhcp(self, payload: bytes, src_ip: str, vlan: int, frame: int, ts: float) -> None:
        self._run("dhcp", lambda: dhcp_facts.facts(dhcp.parse(payload), src_ip), vlan, frame, ts)

    def _sender(self, vlan: int, mac: str, ts: float) -> None:
        ent = self.hosts.get((vlan, mac))
        if ent is None:
            if len(self.hosts) < MAX_L2_HOSTS:
                self.hosts[(vlan, mac)] = [ts, ts, True]
        elif ts > ent[1]:
            ent[1] = ts
            ent[2] = True

    def _run(self, protocol: str, parse: Callable[[], L2Output], vlan: int, frame: int, ts: float) -> None:
        acc = self.acc
        try:
            items = parse()
        except (Truncated, Malformed) as exc:
            acc.anomaly(protocol, "truncated" if isinstance(exc, Truncated) else "malformed", frame, ts)
            return
        for item in items:
            if isinstance(item, L2Binding):
                acc.binding(vlan, item.ip, item.mac, "high", protocol, frame, ts)
                acc.fact(Subject(vlan, item.ip, None), "protocol", protocol, protocol, item.message, frame, ts)
            elif isinstance(item, L2Fact):
                acc.fact(Subject(vlan, item.ip, item.mac), item.field, item.value, protocol, item.message, frame, ts)

    def drain_hosts(self) -> dict[tuple[int, str], list[float]]:
        """Layer-2 senders seen since the last call: (vlan, mac) -> [first, last]."""
        out = {}
        for key, ent in self.hosts.items():
            if ent[2]:
                ent[2] = False
                out[key] = [ent[0], ent[1]]
        return out
