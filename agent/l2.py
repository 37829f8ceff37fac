"""Frame-level (stateless) dissectors: ARP, LLDP, CDP, PROFINET DCP, and DHCP datagrams.

These are rare next to flow traffic, so they are dispatched outside the hot loop. Each grammar is
pure (bytes -> dataclass) and raises Truncated/Malformed; here those become counted anomalies.
"""

from __future__ import annotations

from collections.abc import Callable

from otscope.agent.accumulate import Accumulator
from otscope.contract import Subject
from otscope.dissectors.arp import facts as arp_facts, grammar as arp
from otscope.dissectors.base import L2Anomaly, L2Binding, L2Fact, L2Output, Malformed, Truncated
from otscope.dissectors.cdp import facts as cdp_facts, grammar as cdp
from otscope.dissectors.dhcp import facts as dhcp_facts, grammar as dhcp
from otscope.dissectors.lldp import facts as lldp_facts, grammar as lldp
from otscope.dissectors.pndcp import facts as dcp_facts, grammar as dcp

ETH_ARP, ETH_LLDP, ETH_PROFINET = 0x0806, 0x88CC, 0x8892
CDP_SNAP = bytes.fromhex("aaaa0300000c2000")
MAX_L2_HOSTS = 100_000
MAX_MEMO = 4096                  # distinct frames remembered (ARP requests, LLDP adverts repeat byte for byte)
MAX_MEMO_FRAME = 1600

# What a frame led to, without its frame number and time: ("b", vlan, ip, mac, protocol) for a binding,
# ("f", subject, field, value, protocol, message) for a fact, ("a", protocol, kind) for an anomaly.
Call = tuple


class L2Dispatcher:
    def __init__(self, acc: Accumulator) -> None:
        self.acc = acc
        self.hosts: dict[tuple[int, str], list] = {}     # layer-2 senders: (vlan, mac) -> [first, last, dirty]
        # the grammars are pure: a frame seen before (same bytes, same VLAN) leads to the same calls again
        self.memo: dict[tuple[int, object], tuple[str | None, list[Call]]] = {}

    def frame(self, et: int, buf: bytes, off: int, l3: int, stop: int, vlan: int, frame: int, ts: float) -> None:
        if et == ETH_ARP:
            raw: object = arp.memo_key(buf[l3:stop])        # ARP output depends on the sender part alone
        else:
            raw = buf[off:stop] if stop - off <= MAX_MEMO_FRAME else None
        if raw is not None:
            hit = self.memo.get((vlan, raw))
            if hit is not None:
                sender, calls = hit
                if sender is not None:
                    self._sender(vlan, sender, ts)
                self._replay(calls, frame, ts)
                return
        src = buf[off + 6:off + 12].hex(":")
        calls = self._dissect(et, buf, off, l3, stop, vlan, src)
        sender = None if et == ETH_ARP else src
        if sender is not None:
            self._sender(vlan, sender, ts)
        if raw is not None:
            if len(self.memo) >= MAX_MEMO:
                self.memo.clear()
            self.memo[(vlan, raw)] = (sender, calls)
        self._replay(calls, frame, ts)

    def _dissect(self, et: int, buf: bytes, off: int, l3: int, stop: int, vlan: int, src: str) -> list[Call]:
        body = buf[l3:stop]
        if et == ETH_ARP:
            return self._run("arp", lambda: arp_facts.facts(arp.parse(body)), vlan)
        if et == ETH_LLDP:
            return self._run("lldp", lambda: lldp_facts.facts(lldp.parse(body), src), vlan)
        if et == ETH_PROFINET and len(body) >= 2 and body[0] == 0xFE and body[1] >= 0xFC:
            dst = buf[off:off + 6].hex(":")
            return self._run("pn_dcp", lambda: dcp_facts.facts(dcp.parse(body), src, dst), vlan)
        if et <= 1500 and body.startswith(CDP_SNAP):
            return self._run("cdp", lambda: cdp_facts.facts(cdp.parse(body[8:]), src), vlan)
        return []

    def dhcp(self, payload: bytes, src_ip: str, vlan: int, frame: int, ts: float) -> None:
        self._replay(self._run("dhcp", lambda: dhcp_facts.facts(dhcp.parse(payload), src_ip), vlan), frame, ts)

    def _sender(self, vlan: int, mac: str, ts: float) -> None:
        ent = self.hosts.get((vlan, mac))
        if ent is None:
            if len(self.hosts) < MAX_L2_HOSTS:
                self.hosts[(vlan, mac)] = [ts, ts, True]
        elif ts > ent[1]:
            ent[1] = ts
            ent[2] = True

    @staticmethod
    def _run(protocol: str, parse: Callable[[], L2Output], vlan: int) -> list[Call]:
        """A frame's dissector output as accumulator calls; Truncated/Malformed become a counted anomaly."""
        try:
            items = parse()
        except (Truncated, Malformed) as exc:
            return [("a", protocol, "truncated" if isinstance(exc, Truncated) else "malformed")]
        calls: list[Call] = []
        for item in items:
            if isinstance(item, L2Binding):
                calls.append(("b", vlan, item.ip, item.mac, protocol))
                calls.append(("f", Subject(vlan, item.ip, None), "protocol", protocol, protocol, item.message))
            elif isinstance(item, L2Fact):
                calls.append(("f", Subject(vlan, item.ip, item.mac), item.field, item.value, protocol, item.message))
            elif isinstance(item, L2Anomaly):
                calls.append(("a", protocol, item.kind))
        return calls

    def _replay(self, calls: list[Call], frame: int, ts: float) -> None:
        acc = self.acc
        for c in calls:
            if c[0] == "f":
                acc.fact(c[1], c[2], c[3], c[4], c[5], frame, ts)
            elif c[0] == "b":
                acc.binding(c[1], c[2], c[3], "high", c[4], frame, ts)
            else:
                acc.anomaly(c[1], c[2], frame, ts)

    def drain_hosts(self) -> dict[tuple[int, str], list[float]]:
        """Layer-2 senders seen since the last call: (vlan, mac) -> [first, last]."""
        out = {}
        for key, ent in self.hosts.items():
            if ent[2]:
                ent[2] = False
                out[key] = [ent[0], ent[1]]
        return out
