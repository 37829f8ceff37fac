"""Zones and Purdue levels (issue 20): the site model, the model proposed from traffic, each asset's place in it.

Derived knowledge computed in the collector (architecture, second wave). Two halves, like collector/events.py:

- **pure rules** (no database): parsing and validating a declared model (a small TOML file or the same shape as
  JSON), the level an asset's role puts it at, the model proposed when nothing is declared (one zone per /24
  subnet, or per VLAN for hosts seen without an IP), and the assignment of each asset to a zone and a level
  (declared, inferred with its evidence, or overridden by hand);
- **repository functions** that read the inventory with plain column queries and read/write the ``zones`` and
  ``asset_zones`` tables; they never commit (``uow.unit_of_work`` or the ingest service owns the transaction).

Purdue levels as ISA-95 / IEC 62443-1-1 (the Purdue Enterprise Reference Architecture) number them: 0 the process
(sensors, actuators), 1 basic control (PLCs, RTUs, I/O), 2 supervisory control (HMIs, engineering workstations),
3 site operations (historians, OPC UA and SCADA servers), 4 site business / IT, 5 enterprise. A declared file:

    site = "Plant A"                    # the zones' site unless a zone names its own
    [[zones]]
    name = "cell-1"
    level = 1
    cidrs = ["10.0.1.0/24"]
    vlans = [10]                        # optional; a host with no IP in any zone's ranges goes by its VLAN
"""

from __future__ import annotations

import ipaddress
import re
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from otscope.collector.models import Address, Asset, AssetZone, Communication, Fact, Zone
from otscope.domain import Role

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Level(IntEnum):
    """Purdue model levels (ISA-95 / IEC 62443-1-1 reference model)."""

    PROCESS = 0
    BASIC_CONTROL = 1
    SUPERVISORY = 2
    SITE_OPERATIONS = 3
    SITE_BUSINESS = 4
    ENTERPRISE = 5


LEVEL_TITLES = {Level.PROCESS: "process", Level.BASIC_CONTROL: "basic control",
                Level.SUPERVISORY: "supervisory control", Level.SITE_OPERATIONS: "site operations",
                Level.SITE_BUSINESS: "site business (IT)", Level.ENTERPRISE: "enterprise (IT)"}
IT_LEVELS = (Level.SITE_BUSINESS, Level.ENTERPRISE)


class ModelStatus(StrEnum):
    DECLARED = "declared"       # loaded from a file or PUT /api/v1/zones
    ACCEPTED = "accepted"       # a proposed model an operator accepted (stored like a declared one)
    PROPOSED = "proposed"       # inferred from traffic; nothing stored
    NONE = "none"               # nothing declared and nothing to propose (an empty inventory)


class Source(StrEnum):
    """Where an asset's zone and level come from."""

    DECLARED = "declared"
    INFERRED = "inferred"
    OVERRIDE = "override"
    UNZONED = "unzoned"         # no zone's ranges or VLANs hold it


MAX_ZONES = 1000
MAX_RANGES = 256                # CIDRs and VLANs per zone
MAX_EVIDENCE = 6                # evidence lines kept per inferred zone
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/()-]{0,63}$")
UNZONED = "unzoned"

# levels the role vocabulary (otscope/domain.py Role) puts a device at; a network device has no level of its own
ROLE_LEVEL: dict[Role, Level] = {
    Role.PLC: Level.BASIC_CONTROL, Role.RTU_IED: Level.BASIC_CONTROL, Role.IO_DEVICE: Level.BASIC_CONTROL,
    Role.COMMUNICATIONS_MODULE: Level.BASIC_CONTROL, Role.GATEWAY: Level.BASIC_CONTROL,
    Role.BUILDING_CONTROLLER: Level.BASIC_CONTROL, Role.HMI_SCADA: Level.SUPERVISORY, Role.EWS: Level.SUPERVISORY,
    Role.IT_HOST: Level.SITE_BUSINESS,
}
# servers of level 3: an OPC UA server (a label the OPC UA package emits), or a name/product saying historian or
# SCADA server (no protocol proves a historian)
LEVEL3_LABELS = ("opcua-server",)
LEVEL3_WORDS = re.compile(r"historian|scada[ -]?server|opc[ -]?ua[ -]?server|\bpi server\b", re.I)


class ZoneError(ValueError):
    """A declared model that cannot be used (the message says where and why)."""


@dataclass(frozen=True, slots=True)
class ZoneDef:
    name: str
    site: str
    level: Level | None
    cidrs: tuple[str, ...] = ()
    vlans: tuple[int, ...] = ()
    description: str = ""
    status: ModelStatus = ModelStatus.DECLARED
    evidence: tuple[str, ...] = ()

    def networks(self) -> list[Network]:
        return [ipaddress.ip_network(c) for c in self.cidrs]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "site": self.site, "level": None if self.level is None else int(self.level),
                "level_title": LEVEL_TITLES.get(self.level) if self.level is not None else None,
                "cidrs": list(self.cidrs), "vlans": list(self.vlans), "description": self.description or None,
                "status": self.status.value, "evidence": list(self.evidence)}


@dataclass(frozen=True, slots=True)
class HostView:
    """What zoning needs of a top-level asset (read with column queries: 10k assets stay fast)."""

    id: int
    role: Role
    ips: tuple[str, ...] = ()
    vlans: tuple[int, ...] = ()
    macs: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ()        # the asset's protocol labels (modbus-server, http-client, ...)
    name: str | None = None
    product: str | None = None
    role_evidence: str | None = None

    @property
    def label(self) -> str:
        where = self.ips[0] if self.ips else (self.macs[0] if self.macs else f"asset {self.id}")
        return f"{self.name} ({where})" if self.name else where


@dataclass(frozen=True, slots=True)
class Override:
    asset_id: int
    zone: str | None
    level: Level | None
    reason: str = ""
    set_by: str = ""


@dataclass(frozen=True, slots=True)
class Assignment:
    asset_id: int
    zone: str                       # a zone name, or UNZONED
    level: Level | None
    source: Source
    evidence: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"asset": self.asset_id, "zone": self.zone, "level": None if self.level is None else int(self.level),
                "source": self.source.value, "evidence": list(self.evidence)}


@dataclass(slots=True)
class SiteModel:
    status: ModelStatus
    zones: list[ZoneDef]
    assignments: dict[int, Assignment] = field(default_factory=dict)

    def zone(self, name: str) -> ZoneDef | None:
        return next((z for z in self.zones if z.name == name), None)


# --- parsing a declared model -----------------------------------------------------------------------------------

_TOP_KEYS = {"site", "zones"}
_ZONE_KEYS = {"name", "site", "level", "cidrs", "vlans", "description"}


def _text(value: object, where: str, what: str, *, pattern: re.Pattern[str] | None = NAME_RE,
          limit: int = 64) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ZoneError(f"{where}: {what} must be a non-empty string")
    v = value.strip()
    if len(v) > limit or (pattern is not None and not pattern.match(v)):
        raise ZoneError(f"{where}: {what} {v[:64]!r} must be 1-{limit} letters, digits, spaces or _.:/()-")
    return v


def _level(value: object, where: str) -> Level:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
        raise ZoneError(f"{where}: level must be a whole number 0-5 (Purdue level), not {str(value)[:32]!r}")
    return Level(value)


def _cidrs(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_RANGES:
        raise ZoneError(f"{where}: cidrs must be a list of at most {MAX_RANGES} networks")
    out = []
    for c in value:
        if not isinstance(c, str):
            raise ZoneError(f"{where}: cidrs: {str(c)[:32]!r} is not a network")
        try:
            out.append(str(ipaddress.ip_network(c.strip(), strict=True)))
        except ValueError as exc:
            raise ZoneError(f"{where}: cidrs: {c[:64]!r}: {exc}") from None
    return tuple(out)


def _vlans(value: object, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_RANGES:
        raise ZoneError(f"{where}: vlans must be a list of at most {MAX_RANGES} VLAN ids")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 4094:    # IEEE 802.1Q: 0 and 4095 reserved
            raise ZoneError(f"{where}: vlans: {str(v)[:32]!r} is not a VLAN id (1-4094)")
    return tuple(sorted(set(value)))


def parse_model(doc: Mapping[str, Any]) -> list[ZoneDef]:
    """Validate a declared model (the TOML file's table, or the JSON body of PUT /api/v1/zones)."""
    if not isinstance(doc, Mapping):
        raise ZoneError("the model must be a table with `site` and `zones`")
    extra = sorted(set(doc) - _TOP_KEYS)
    if extra:
        raise ZoneError(f"unknown key(s) {extra[:5]} (allowed: site, zones)")
    site = _text(doc.get("site", "site"), "model", "site")
    raw = doc.get("zones")
    if not isinstance(raw, list) or not raw:
        raise ZoneError("`zones` must be a non-empty list of zones ([[zones]] tables)")
    if len(raw) > MAX_ZONES:
        raise ZoneError(f"at most {MAX_ZONES} zones")
    out: list[ZoneDef] = []
    for i, z in enumerate(raw, 1):
        where = f"zone {i}"
        if not isinstance(z, Mapping):
            raise ZoneError(f"{where}: must be a table")
        extra = sorted(set(z) - _ZONE_KEYS)
        if extra:
            raise ZoneError(f"{where}: unknown key(s) {extra[:5]} (allowed: {', '.join(sorted(_ZONE_KEYS))})")
        name = _text(z.get("name"), where, "name")
        where = f"zone {name!r}"
        if name == UNZONED:
            raise ZoneError(f"{where}: the name {UNZONED!r} is reserved")
        if "level" not in z:
            raise ZoneError(f"{where}: level is required")
        cidrs, vlans = _cidrs(z.get("cidrs", []), where), _vlans(z.get("vlans", []), where)
        if not cidrs and not vlans:
            raise ZoneError(f"{where}: give cidrs or vlans (or both)")
        desc = z.get("description", "")
        if not isinstance(desc, str) or len(desc) > 256:
            raise ZoneError(f"{where}: description must be a string of at most 256 characters")
        out.append(ZoneDef(name, _text(z.get("site", site), where, "site"), _level(z["level"], where), cidrs, vlans,
                           desc))
    _check_unique(out)
    return out


def _check_unique(zones: Sequence[ZoneDef]) -> None:
    """Names, CIDRs and VLANs each belong to one zone (nested CIDRs are allowed: the most specific one wins)."""
    for what, items in (("name", [(z.name, z) for z in zones]),
                        ("network", [(c, z) for z in zones for c in z.cidrs]),
                        ("VLAN", [(str(v), z) for z in zones for v in z.vlans])):
        seen: dict[str, str] = {}
        for key, z in items:
            if key in seen and seen[key] != z.name or (what == "name" and key in seen):
                raise ZoneError(f"{what} {key!r} is in two zones ({seen[key]!r} and {z.name!r})")
            seen[key] = z.name


def parse_toml(data: bytes) -> list[ZoneDef]:
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ZoneError("the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ZoneError(f"not valid TOML: {exc}") from None
    return parse_model(doc)


# --- levels and the proposed model --------------------------------------------------------------------------------

def host_level(h: HostView) -> tuple[Level | None, str]:
    """The level a host's role (and, for level 3, its served protocols or stated name) puts it at, and why."""
    served = [p for p in h.protocols if p in LEVEL3_LABELS]
    if served:
        return Level.SITE_OPERATIONS, f"{h.label} serves {served[0].removesuffix('-server')} (level 3 server)"
    for text in (h.product, h.name):
        if text and LEVEL3_WORDS.search(text):
            return Level.SITE_OPERATIONS, f"{h.label}: {text[:64]!r} names a historian/SCADA server (level 3)"
    level = ROLE_LEVEL.get(h.role)
    if level is None:
        return None, ""
    why = f" ({h.role_evidence[:120]})" if h.role_evidence else ""
    return level, f"{h.label} is {h.role.value}{why}: level {int(level)}"


def subnet_of(ip: str) -> Network | None:
    """The /24 (IPv4) or /64 (IPv6) an address is in; None for a link-local or unparsable one."""
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if a.is_link_local or a.is_unspecified or a.is_multicast:
        return None
    return ipaddress.ip_network(f"{a}/{24 if a.version == 4 else 64}", strict=False)


def group_of(h: HostView) -> tuple[str, Network | None, int | None]:
    """The proposed zone a host falls in: its first address's subnet, else its VLAN (name, network, vlan)."""
    for ip in h.ips:
        net = subnet_of(ip)
        if net is not None:
            return str(net), net, None
    vlan = next((v for v in h.vlans if v), 0)
    return (f"vlan {vlan}" if vlan else "layer 2 (untagged)"), None, vlan or None


def zone_level(levels: Sequence[tuple[Level, str]]) -> tuple[Level | None, tuple[str, ...]]:
    """A proposed zone's level: the level most of its hosts are at (a tie goes to the lower, more critical level),
    with the count and the first hosts that decided it as evidence."""
    if not levels:
        return None, ("no host of a known role: level unknown",)
    counts = Counter(lv for lv, _ in levels)
    best = min(counts, key=lambda lv: (-counts[lv], lv))
    summary = ", ".join(f"{n} at level {int(lv)}" for lv, n in sorted(counts.items()))
    why = [f"level {int(best)}: most hosts of a known role ({summary})"]
    why += [w for lv, w in levels if lv == best][:MAX_EVIDENCE - 1]
    return best, tuple(why)


def propose(hosts: Sequence[HostView], site: str = "site") -> list[ZoneDef]:
    """The model inferred from traffic: one zone per /24 subnet (or VLAN), at the level its hosts' roles say."""
    groups: dict[str, tuple[Network | None, int | None, list[tuple[Level, str]]]] = {}
    for h in hosts:
        name, net, vlan = group_of(h)
        g = groups.setdefault(name, (net, vlan, []))
        level, why = host_level(h)
        if level is not None:
            g[2].append((level, why))
    out = []
    for name, (net, vlan, levels) in sorted(groups.items(), key=lambda kv: _zone_sort(kv[1][0], kv[0])):
        level, evidence = zone_level(levels)
        out.append(ZoneDef(name, site, level, (str(net),) if net else (), (vlan,) if vlan else (), "",
                           ModelStatus.PROPOSED, evidence))
    return out


def _zone_sort(net: Network | None, name: str) -> tuple[int, int, str]:
    return (0, int(net.network_address), name) if net is not None and net.version == 4 else (1, 0, name)


# --- assignment -------------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Matcher:
    """Most specific CIDR first, then VLAN."""

    nets: list[tuple[Network, ZoneDef]]
    vlans: dict[int, ZoneDef]

    @classmethod
    def of(cls, zones: Sequence[ZoneDef]) -> _Matcher:
        nets = sorted(((n, z) for z in zones for n in z.networks()), key=lambda nz: -nz[0].prefixlen)
        return cls(nets, {v: z for z in zones for v in z.vlans})

    def match(self, h: HostView) -> tuple[ZoneDef | None, str]:
        for ip in h.ips:
            try:
                a = ipaddress.ip_address(ip)
            except ValueError:
                continue
            for net, z in self.nets:
                if a.version == net.version and a in net:
                    return z, f"{ip} is in {net} (zone {z.name})"
        for v in h.vlans:
            if v in self.vlans:
                return self.vlans[v], f"seen on VLAN {v} (zone {self.vlans[v].name})"
        return None, ""


def assign(hosts: Sequence[HostView], model: SiteModel, overrides: Mapping[int, Override] | None = None) \
        -> dict[int, Assignment]:
    """Each host's zone and level: an override by hand first, else the zone its addresses (or VLAN) fall in,
    at that zone's level; in a proposed model the zone's level is inferred, and its evidence comes along."""
    matcher = _Matcher.of(model.zones)
    inferred = model.status is ModelStatus.PROPOSED
    out: dict[int, Assignment] = {}
    for h in hosts:
        z, why = matcher.match(h)
        zone, level = (z.name, z.level) if z else (UNZONED, None)
        evidence: list[str] = [why] if why else [f"{h.label}: no zone's networks or VLANs hold it"]
        if inferred and z is not None:
            evidence += list(z.evidence[:2])
        source = Source.UNZONED if z is None else (Source.INFERRED if inferred else Source.DECLARED)
        o = (overrides or {}).get(h.id)
        if o is not None:
            if o.zone is not None:
                oz = model.zone(o.zone)
                zone, level = o.zone, (oz.level if oz is not None else level)
            if o.level is not None:
                level = o.level
            source = Source.OVERRIDE
            evidence.insert(0, f"set by hand by {o.set_by or '?'}" + (f": {o.reason}" if o.reason else ""))
        out[h.id] = Assignment(h.id, zone, level, source, tuple(evidence))
    return out


def build(hosts: Sequence[HostView], declared: Sequence[ZoneDef], overrides: Mapping[int, Override] | None = None) \
        -> SiteModel:
    """The site model in force: the declared (or accepted) zones, else the proposal, with every host assigned."""
    if declared:
        status = ModelStatus.ACCEPTED if all(z.status is ModelStatus.ACCEPTED for z in declared) \
            else ModelStatus.DECLARED
        model = SiteModel(status, list(declared))
    else:
        zones = propose(hosts)
        model = SiteModel(ModelStatus.PROPOSED if zones else ModelStatus.NONE, zones)
    model.assignments = assign(hosts, model, overrides)
    return model


# --- conversations between zones ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ConvView:
    client: int
    server: int
    protocol: str
    transport: str
    port: int | None
    packets: int
    bytes: int
    first_seen: float
    last_seen: float


def is_crossing(a: Level | None, b: Level | None) -> bool:
    """A conversation that skips a Purdue level (more than one step), or goes between IT (4-5) and levels 0-2."""
    if a is None or b is None:
        return False
    lo, hi = sorted((a, b))
    return hi - lo > 1 or (hi in IT_LEVELS and lo <= Level.SUPERVISORY)


def zone_flows(model: SiteModel, convs: Iterable[ConvView]) -> list[dict[str, Any]]:
    """Conversations aggregated by (client zone, server zone, protocol): counts, packets, bytes, and whether the
    pair crosses levels (is_crossing). What the segmentation view draws instead of one line per conversation."""
    acc: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in convs:
        a, b = model.assignments.get(c.client), model.assignments.get(c.server)
        if a is None or b is None:
            continue
        row = acc[(a.zone, b.zone, c.protocol)]
        row[0] += 1
        row[1] += c.packets
        row[2] += c.bytes
    levels = {z.name: z.level for z in model.zones}
    out = []
    for (za, zb, proto), (n, pk, by) in sorted(acc.items()):
        la, lb = levels.get(za), levels.get(zb)
        out.append({"from": za, "to": zb, "protocol": proto, "conversations": n, "packets": pk, "bytes": by,
                    "from_level": None if la is None else int(la), "to_level": None if lb is None else int(lb),
                    "crossing": is_crossing(la, lb)})
    return out


# --- repository -----------------------------------------------------------------------------------------------------

def load_hosts(s: Session) -> list[HostView]:
    """Every top-level asset (modules and units behind a chassis/gateway share their parent's place)."""
    protos: dict[int, set[str]] = defaultdict(set)
    for aid, value in s.execute(select(Fact.asset_id, Fact.value).where(Fact.field == "protocol")):
        protos[aid].add(value)
    ips: dict[int, set[str]] = defaultdict(set)
    macs: dict[int, set[str]] = defaultdict(set)
    vlans: dict[int, set[int]] = defaultdict(set)
    for aid, kind, vlan, value in s.execute(select(Address.asset_id, Address.kind, Address.vlan, Address.value)):
        vlans[aid].add(vlan)
        (ips if kind == "ip" else macs)[aid].add(value)
    out = []
    for aid, role, name, product, why in s.execute(
            select(Asset.id, Asset.role, Asset.name, Asset.product, Asset.role_evidence)
            .where(Asset.parent_id.is_(None), Asset.merged_into.is_(None)).order_by(Asset.id)):
        try:
            r = Role(role)
        except ValueError:
            r = Role.UNKNOWN
        out.append(HostView(aid, r, tuple(sorted(ips.get(aid, ()), key=_ip_key)), tuple(sorted(vlans.get(aid, ()))),
                            tuple(sorted(macs.get(aid, ()))), tuple(sorted(protos.get(aid, ()))), name, product, why))
    return out


def _ip_key(ip: str) -> tuple[int, int]:
    try:
        a = ipaddress.ip_address(ip)
        return (a.version, int(a))
    except ValueError:
        return (9, 0)


def load_convs(s: Session) -> list[ConvView]:
    return [ConvView(*row) for row in s.execute(
        select(Communication.client_id, Communication.server_id, Communication.protocol, Communication.transport,
               Communication.port, Communication.packets, Communication.bytes, Communication.first_seen,
               Communication.last_seen).order_by(Communication.id))]


def declared(s: Session) -> list[ZoneDef]:
    return [ZoneDef(z.name, z.site, None if z.level is None else Level(z.level), tuple(z.cidrs or ()),
                    tuple(z.vlans or ()), z.description or "", ModelStatus(z.source), tuple(z.evidence or ()))
            for z in s.scalars(select(Zone).order_by(Zone.id))]


def overrides(s: Session) -> dict[int, Override]:
    return {o.asset_id: Override(o.asset_id, o.zone, None if o.level is None else Level(o.level), o.reason or "",
                                 o.set_by) for o in s.scalars(select(AssetZone))}


def replace(s: Session, zones: Sequence[ZoneDef], source: ModelStatus = ModelStatus.DECLARED,
            now: float | None = None) -> int:
    """Replace the stored model with these zones (declared, or an accepted proposal)."""
    if source is ModelStatus.DECLARED:
        _check_unique(zones)
    now = time.time() if now is None else now
    s.execute(delete(Zone))
    for z in zones:
        s.add(Zone(site=z.site, name=z.name, level=None if z.level is None else int(z.level), cidrs=list(z.cidrs),
                   vlans=list(z.vlans), description=z.description or None, source=source.value,
                   evidence=[e[:512] for e in z.evidence], created_at=now))
    s.flush()
    return len(zones)


def current(s: Session) -> tuple[SiteModel, list[HostView]]:
    hosts = load_hosts(s)
    return build(hosts, declared(s), overrides(s)), hosts


def accept(s: Session) -> int:
    """Store the proposed model as the site's (status accepted); an error when a model is already stored."""
    if declared(s):
        raise ZoneError("a model is already declared or accepted: nothing is proposed")
    zones = propose(load_hosts(s))
    if not zones:
        raise ZoneError("nothing to propose: the inventory has no assets")
    return replace(s, zones, ModelStatus.ACCEPTED)


def set_override(s: Session, asset_id: int, zone: str | None, level: Level | None, by: str, reason: str = "",
                 now: float | None = None) -> bool:
    """Set (or, with neither zone nor level, clear) an asset's zone/level by hand; False if no such top asset."""
    row = s.execute(select(Asset.id, Asset.parent_id).where(Asset.id == asset_id)).first()
    if row is None or row[1] is not None:
        return False
    s.execute(delete(AssetZone).where(AssetZone.asset_id == asset_id))
    if zone is not None or level is not None:
        s.add(AssetZone(asset_id=asset_id, zone=zone, level=None if level is None else int(level),
                        reason=reason[:256] or None, set_by=by[:128], set_at=time.time() if now is None else now))
    s.flush()
    return True


def view(model: SiteModel, hosts: Sequence[HostView]) -> dict[str, Any]:
    """The public shape (GET /api/v1/zones, `otscope zones --format json`)."""
    members: dict[str, list[int]] = defaultdict(list)
    for a in model.assignments.values():
        members[a.zone].append(a.asset_id)
    zones = [{**z.as_dict(), "assets": len(members.get(z.name, []))} for z in model.zones]
    by_id = {h.id: h for h in hosts}
    assets = [{**a.as_dict(), "label": by_id[a.asset_id].label, "role": by_id[a.asset_id].role.value}
              for a in model.assignments.values()]
    sites = sorted({z.site for z in model.zones})
    return {"status": model.status.value, "sites": sites, "zones": zones, "unzoned": len(members.get(UNZONED, [])),
            "assets": assets}
