"""Segmentation findings (issue 20): pure rules over the site model (collector/zones.py) and the conversations.

Each finding names its kind, the assets and zones it is about, a stable key (its identity: the event it raises is
deduplicated on it) and its evidence: the conversations, addresses and roles that make it true.

- ``level-crossing``: a conversation that skips a Purdue level (more than one step, e.g. level 3 -> 1);
- ``it-to-control``: a conversation between IT (levels 4-5) and levels 0-2 directly, with no level-3 hop (the
  IEC 62443-3-2 zone and conduit model, and the Purdue model's DMZ, put one between them);
- ``flat-network``: controllers and IT hosts in one /24 subnet or one VLAN;
- ``dual-homed``: a host (not a network device: routers and firewalls bridge subnets by design) with addresses in
  two subnets, or serving an OT protocol on one side while talking IT protocols with IT hosts on the other;
- ``public-address``: an OT asset talking to a public (globally routable) address.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from otscope.collector.zones import IT_LEVELS, UNZONED, Assignment, ConvView, HostView, Level, SiteModel, \
    is_crossing, subnet_of
from otscope.domain import OT_SERVICE_PORTS, Role

MAX_EVIDENCE = 8
MAX_LISTED = 5             # hosts named in a flat-network finding, per side


class FindingKind(StrEnum):
    LEVEL_CROSSING = "level-crossing"
    IT_TO_CONTROL = "it-to-control"
    FLAT_NETWORK = "flat-network"
    DUAL_HOMED = "dual-homed"
    PUBLIC_ADDRESS = "public-address"


SEVERITY = {FindingKind.LEVEL_CROSSING: "medium", FindingKind.IT_TO_CONTROL: "high",
            FindingKind.FLAT_NETWORK: "medium", FindingKind.DUAL_HOMED: "high", FindingKind.PUBLIC_ADDRESS: "high"}
CONTROLLER_ROLES = (Role.PLC, Role.RTU_IED, Role.IO_DEVICE, Role.COMMUNICATIONS_MODULE, Role.GATEWAY,
                    Role.BUILDING_CONTROLLER)
OT_ROLES = CONTROLLER_ROLES + (Role.HMI_SCADA, Role.EWS)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    key: str                            # identity: one event per key
    summary: str
    assets: tuple[int, ...]
    zones: tuple[str, ...]
    evidence: tuple[str, ...]
    protocol: str = ""
    first_seen: float | None = None
    last_seen: float | None = None

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "severity": self.severity, "key": self.key, "summary": self.summary,
                "assets": list(self.assets), "zones": list(self.zones), "protocol": self.protocol or None,
                "evidence": list(self.evidence), "first_seen": self.first_seen, "last_seen": self.last_seen}


@dataclass(frozen=True, slots=True)
class Protocols:
    """Which conversation protocols are OT (the registry's OT specs and OT_SERVICE_PORTS names)."""

    ot: frozenset[str]

    @classmethod
    def from_registry(cls) -> Protocols:
        from otscope.dissectors import registry

        return cls(frozenset(p for s in registry.specs() if s.ot for p in s.protocols) | set(OT_SERVICE_PORTS.values()))

    def is_ot(self, protocol: str) -> bool:
        return protocol in self.ot

    def host_is_ot(self, h: HostView) -> bool:
        return h.role in OT_ROLES or any(p.rsplit("-", 1)[0] in self.ot for p in h.protocols)


def _lv(a: Assignment | None) -> str:
    return "?" if a is None or a.level is None else str(int(a.level))


def _conv_text(c: ConvView, hosts: dict[int, HostView], assigns: dict[int, Assignment]) -> str:
    cl, sv = hosts.get(c.client), hosts.get(c.server)
    ca, sa = assigns.get(c.client), assigns.get(c.server)
    port = f"{c.transport}/{c.port}" if c.port is not None else c.transport
    return (f"{cl.label if cl else c.client} ({cl.role.value if cl else '?'}, zone {ca.zone if ca else '?'}, "
            f"level {_lv(ca)}) -> {sv.label if sv else c.server} ({sv.role.value if sv else '?'}, zone "
            f"{sa.zone if sa else '?'}, level {_lv(sa)}): {c.protocol} {port}, {c.packets} packets, {c.bytes} bytes")


def crossings(hosts: dict[int, HostView], assigns: dict[int, Assignment], convs: Iterable[ConvView]) -> list[Finding]:
    """One finding per conversation (client, server, protocol) that crosses levels (zones.is_crossing)."""
    out: dict[str, Finding] = {}
    for c in convs:
        ca, sa = assigns.get(c.client), assigns.get(c.server)
        if ca is None or sa is None or not is_crossing(ca.level, sa.level):
            continue
        assert ca.level is not None and sa.level is not None
        lo, hi = sorted((ca.level, sa.level))
        kind = FindingKind.IT_TO_CONTROL if hi in IT_LEVELS and lo <= Level.SUPERVISORY else FindingKind.LEVEL_CROSSING
        key = f"{kind.value}:{c.client}:{c.server}:{c.protocol}"
        what = "IT (level 4-5) and level 0-2 talk directly" if kind is FindingKind.IT_TO_CONTROL \
            else f"a conversation skips Purdue levels ({int(ca.level)} -> {int(sa.level)})"
        prev = out.get(key)
        ev = _conv_text(c, hosts, assigns)
        if prev is not None:                # the same pair and protocol on another port/transport: one finding
            out[key] = Finding(kind, key, prev.summary, prev.assets, prev.zones,
                               (prev.evidence + (ev,))[:MAX_EVIDENCE], c.protocol,
                               min(prev.first_seen or c.first_seen, c.first_seen),
                               max(prev.last_seen or c.last_seen, c.last_seen))
            continue
        out[key] = Finding(kind, key, f"{what}: {c.protocol}", (c.client, c.server), (ca.zone, sa.zone), (ev,),
                           c.protocol, c.first_seen, c.last_seen)
    return list(out.values())


def _groups(hosts: Iterable[HostView]) -> dict[str, list[HostView]]:
    """Hosts by the /24 (or /64) of each of their addresses and by each VLAN they were seen on (0 is untagged:
    no VLAN tells otscope nothing about segmentation, so it is no group)."""
    g: dict[str, list[HostView]] = defaultdict(list)
    for h in hosts:
        keys = {f"subnet {n}" for n in (subnet_of(ip) for ip in h.ips) if n is not None}
        keys |= {f"VLAN {v}" for v in h.vlans if v}
        for k in keys:
            g[k].append(h)
    return g


def flat_networks(hosts: Sequence[HostView], assigns: dict[int, Assignment] | None = None) -> list[Finding]:
    out = []
    for group, members in sorted(_groups(hosts).items()):
        ctrl = [h for h in members if h.role in CONTROLLER_ROLES]
        it = [h for h in members if h.role is Role.IT_HOST]
        if not ctrl or not it:
            continue
        ev = [f"{len(ctrl)} controller(s) and {len(it)} IT host(s) in {group}"]
        ev += [f"controller {h.label} ({h.role.value})" for h in ctrl[:MAX_LISTED]]
        ev += [f"IT host {h.label}" + (f" ({h.role_evidence[:100]})" if h.role_evidence else "") for h in it[:MAX_LISTED]]
        out.append(Finding(FindingKind.FLAT_NETWORK, f"flat-network:{group}",
                           f"flat network: controllers and IT hosts share {group}",
                           tuple(h.id for h in ctrl[:MAX_LISTED] + it[:MAX_LISTED]),
                           tuple(sorted({assigns[h.id].zone for h in ctrl + it if h.id in assigns})) if assigns else (),
                           tuple(ev[:2 * MAX_LISTED + 1])))
    return out


def dual_homed(hosts: dict[int, HostView], assigns: dict[int, Assignment], convs: Sequence[ConvView],
               protos: Protocols) -> list[Finding]:
    out = []
    for h in hosts.values():
        if h.role is Role.NETWORK_DEVICE:
            continue
        nets = sorted({str(n) for n in (subnet_of(ip) for ip in h.ips) if n is not None})
        if len(nets) >= 2 and h.macs:
            ips = ", ".join(h.ips[:6])
            out.append(Finding(FindingKind.DUAL_HOMED, f"dual-homed:{h.id}",
                               f"dual-homed host: {h.label} has addresses in {len(nets)} subnets",
                               (h.id,), tuple(sorted({assigns[h.id].zone} if h.id in assigns else ())),
                               (f"MAC {', '.join(h.macs[:3])} with IPs {ips} in subnets {', '.join(nets[:6])}",)))
    out += _service_bridges(hosts, assigns, convs, protos)
    return out


def _service_bridges(hosts: dict[int, HostView], assigns: dict[int, Assignment], convs: Sequence[ConvView],
                     protos: Protocols) -> list[Finding]:
    """A host at level 0-3 serving an OT protocol to OT-side clients while it talks IT protocols with IT hosts
    (level 4-5) of another zone: a bridge between the two sides that no firewall sees."""
    ot_served: dict[int, list[ConvView]] = defaultdict(list)
    it_peers: dict[int, list[ConvView]] = defaultdict(list)
    for c in convs:
        ca, sa = assigns.get(c.client), assigns.get(c.server)
        if ca is None or sa is None:
            continue
        if protos.is_ot(c.protocol) and ca.level is not None and ca.level <= Level.SITE_OPERATIONS:
            ot_served[c.server].append(c)
        elif not protos.is_ot(c.protocol):
            for me, peer in ((ca, sa), (sa, ca)):
                if peer.level in IT_LEVELS and me.level is not None and me.level <= Level.SITE_OPERATIONS \
                        and peer.zone != me.zone:
                    it_peers[me.asset_id].append(c)
    out = []
    for aid in sorted(set(ot_served) & set(it_peers)):
        ot_side = ot_served[aid]
        other = {assigns[c.client].zone for c in ot_side}
        it_side = [c for c in it_peers[aid] if assigns[c.client if c.server == aid else c.server].zone not in other]
        if not it_side:
            continue
        h = hosts.get(aid)
        label = h.label if h else str(aid)
        ev = [f"serves {c.protocol}: " + _conv_text(c, hosts, assigns) for c in ot_side[:3]]
        ev += [f"IT side: " + _conv_text(c, hosts, assigns) for c in it_side[:3]]
        out.append(Finding(FindingKind.DUAL_HOMED, f"bridge:{aid}",
                           f"{label} serves {ot_side[0].protocol} to the OT side and talks {it_side[0].protocol} "
                           "with IT hosts", (aid,), tuple(sorted({assigns[aid].zone} | other)), tuple(ev),
                           ot_side[0].protocol, min(c.first_seen for c in ot_side + it_side),
                           max(c.last_seen for c in ot_side + it_side)))
    return out


def is_public(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


def public_talkers(hosts: dict[int, HostView], assigns: dict[int, Assignment], convs: Sequence[ConvView],
                   protos: Protocols) -> list[Finding]:
    """One finding per (OT asset, public peer): the conversations between them as evidence."""
    pairs: dict[tuple[int, int], list[ConvView]] = defaultdict(list)
    for c in convs:
        for me, peer in ((c.client, c.server), (c.server, c.client)):
            h, p = hosts.get(me), hosts.get(peer)
            if h is None or p is None or not p.ips or not all(is_public(ip) for ip in p.ips):
                continue
            a = assigns.get(me)
            level_ot = a is not None and a.level is not None and a.level <= Level.SITE_OPERATIONS
            if protos.host_is_ot(h) or level_ot:
                pairs[(me, peer)].append(c)
    out = []
    for (me, peer), cs in sorted(pairs.items()):
        h, p = hosts[me], hosts[peer]
        zone = assigns[me].zone if me in assigns else UNZONED
        out.append(Finding(FindingKind.PUBLIC_ADDRESS, f"public-address:{me}:{peer}",
                           f"OT asset {h.label} talks to public address {p.ips[0]}", (me, peer), (zone,),
                           tuple(_conv_text(c, hosts, assigns) for c in cs[:MAX_EVIDENCE]),
                           cs[0].protocol, min(c.first_seen for c in cs), max(c.last_seen for c in cs)))
    return out


def compute(model: SiteModel, hosts: Sequence[HostView], convs: Sequence[ConvView],
            protos: Protocols | None = None) -> list[Finding]:
    """Every finding, in a stable order (kind, key)."""
    protos = protos or Protocols.from_registry()
    by_id = {h.id: h for h in hosts}
    a = model.assignments
    found = crossings(by_id, a, convs) + flat_networks(hosts, a) + dual_homed(by_id, a, convs, protos) + \
        public_talkers(by_id, a, convs, protos)
    return sorted(found, key=lambda f: (list(FindingKind).index(f.kind), f.key))


def select_findings(found: Sequence[Finding], kind: FindingKind | None = None, zone: str | None = None) -> list[Finding]:
    return [f for f in found if (kind is None or f.kind is kind) and (zone is None or zone in f.zones)]


# --- as events (collector/events.py) ---------------------------------------------------------------------------

EVENT_KIND = "segmentation-finding"
# the volume in a conversation's evidence grows with every batch: left out of an event's evidence, which must be
# the same text each time the finding is seen again (events.merged adds new evidence, keeps the same once)
_VOLUME = re.compile(r", \d+ packets, \d+ bytes")


def occurrences(found: Sequence[Finding], sensor: str, ts: float) -> list[Any]:
    """The findings as event occurrences: one ``segmentation-finding`` event per finding key, ever (the kind is
    one of events.ONCE), on the finding's first asset (the second as the event's client)."""
    from otscope.collector.events import Occurrence

    return [Occurrence(EVENT_KIND, f.assets[0] if f.assets else None, f.assets[1] if len(f.assets) > 1 else None,
                       f.protocol or "-", f.key[:256], f"{f.kind.value}: {f.summary}"[:512],
                       _VOLUME.sub("", f.evidence[0] if f.evidence else f.key)[:512], sensor,
                       f.first_seen if f.first_seen is not None else ts, f.last_seen if f.last_seen is not None else ts)
            for f in found]
